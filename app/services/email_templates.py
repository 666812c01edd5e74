"""Email templates: written checked, read as stored, rendered for a client on preview."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import EmailTemplate
from app.db.repositories.email_templates import EmailTemplateRepository
from app.db.repositories.paging import Page
from app.domain import email_context, email_templates
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.domain.email_templates import CompiledTemplate, RenderedEmail, TemplateSource
from app.errors import Conflict, NotFound
from app.services.email_context import context_for

SOURCE_FIELDS = ("subject", "text_body", "html_body")


def source_of(template: EmailTemplate) -> TemplateSource:
    return TemplateSource(template.subject, template.text_body, template.html_body)


def compile_stored(template: EmailTemplate) -> CompiledTemplate:
    """A stored template, ready to render for many clients (`email_templates.render`).
    Compiled once per process and source: compiling costs about 4 ms, rendering 0.05 ms, and
    every email a trigger composes renders the same few templates. A compiled template keeps
    no state between renders (the work budget lives in a context variable), so sharing it is
    safe; keyed by the source itself, an edited template compiles anew."""
    return _compiled(source_of(template))


@lru_cache(maxsize=256)
def _compiled(source: TemplateSource) -> CompiledTemplate:
    return email_templates.compile_template(source)


async def create_template(
    session: AsyncSession, principal: Principal, data: dict[str, Any]
) -> EmailTemplate:
    templates = EmailTemplateRepository(session)
    template = EmailTemplate(workspace_id=principal.workspace_id, **data)
    email_templates.check(source_of(template))
    await _check_name(templates, template)
    return await templates.add(template)


async def get_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID
) -> EmailTemplate:
    template = await EmailTemplateRepository(session).get(principal.workspace_id, template_id)
    if template is None:
        raise NotFound("email template not found")
    return template


async def list_templates(
    session: AsyncSession,
    principal: Principal,
    *,
    q: str | None,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[EmailTemplate]:
    return await EmailTemplateRepository(session).page(
        principal.workspace_id, q=q, sort=sort, cursor=cursor, limit=limit
    )


async def update_template(
    session: AsyncSession,
    principal: Principal,
    template_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None,
) -> EmailTemplate:
    template = await get_template(session, principal, template_id)
    check_if_match(if_match, etag(template.id, template.version))
    for field, value in changes.items():
        setattr(template, field, value)
    if any(field in changes for field in SOURCE_FIELDS):
        email_templates.check(source_of(template))
    if "name" in changes:
        await _check_name(EmailTemplateRepository(session), template)
    await session.flush()
    return template


async def delete_template(
    session: AsyncSession, principal: Principal, template_id: uuid.UUID, if_match: str | None
) -> None:
    template = await get_template(session, principal, template_id)
    check_if_match(if_match, etag(template.id, template.version))
    await EmailTemplateRepository(session).delete(template)


@dataclass(frozen=True)
class Preview:
    email: RenderedEmail
    to: tuple[str, str | None] | None
    variables: dict[str, Any]
    """As JSON values (`email_context.as_json`)."""


async def preview(
    session: AsyncSession,
    principal: Principal,
    template_id: uuid.UUID,
    client_id: uuid.UUID,
    contact_id: uuid.UUID | None,
    now: datetime,
) -> Preview:
    template = await get_template(session, principal, template_id)
    return await _render_for(
        session, principal, compile_stored(template), client_id, contact_id, now
    )


async def preview_source(
    session: AsyncSession,
    principal: Principal,
    source: TemplateSource,
    client_id: uuid.UUID | None,
    contact_id: uuid.UUID | None,
    now: datetime,
) -> Preview:
    """An unsaved template, checked as a write would, then rendered for the client (or for
    the example context when none is named)."""
    compiled = email_templates.check(source)
    if client_id is None:
        rendered = email_templates.render(compiled, email_context.EXAMPLE)
        to = (email_context.EXAMPLE["contact"]["email"], email_context.EXAMPLE["contact"]["name"])
        return Preview(rendered, to, email_context.as_json(email_context.EXAMPLE))
    return await _render_for(session, principal, compiled, client_id, contact_id, now)


async def _render_for(
    session: AsyncSession,
    principal: Principal,
    compiled: CompiledTemplate,
    client_id: uuid.UUID,
    contact_id: uuid.UUID | None,
    now: datetime,
) -> Preview:
    context = await context_for(session, principal, client_id, now, contact_id)
    rendered = email_templates.render(compiled, context.variables)
    return Preview(rendered, context.to, email_context.as_json(context.variables))


async def _check_name(templates: EmailTemplateRepository, template: EmailTemplate) -> None:
    if await templates.name_taken(template.workspace_id, template.name, template.id):
        raise Conflict(f"an email template named {template.name!r} already exists")
