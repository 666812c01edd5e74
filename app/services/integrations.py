"""A workspace's provider accounts: create, read, change, delete, test, and their call log.

Credentials are write-only: validated against the kind's fields, encrypted before they reach
the session, and never part of an answer, a log line or an error message."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Integration, IntegrationCall
from app.db.repositories.integrations import (
    IntegrationCallRepository,
    IntegrationFilters,
    IntegrationRepository,
)
from app.db.repositories.paging import Page
from app.domain import crm as crm_rules
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.domain.integration_settings import base_url_problem, credential_problems, redact
from app.domain.integrations import KINDS, IntegrationKind, Purpose
from app.domain.urls import check_public_url
from app.errors import Conflict, InvalidInput, NotFound
from app.integrations.base import ProviderError
from app.integrations.credentials import CredentialsUnreadable, cipher_for
from app.services.integration_connections import open_connection

ACTIVE = "active"
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True)
class CheckResult:
    ok: bool
    detail: str


async def create_integration(
    session: AsyncSession, principal: Principal, data: dict[str, Any], settings: Settings
) -> Integration:
    kind = IntegrationKind(data["kind"])
    credentials: dict[str, str] = data["credentials"]
    base_url = data.get("base_url")
    _check(kind, credentials, base_url, settings)
    _raise_problems(_option_problems(kind, data.get("options") or {}))
    integrations = IntegrationRepository(session)
    await _check_unique_name(integrations, principal.workspace_id, data["name"], None)
    integration = Integration(
        workspace_id=principal.workspace_id,
        kind=kind.value,
        name=data["name"],
        base_url=base_url if base_url is not None else KINDS[kind].default_base_url,
        credentials_encrypted=cipher_for(settings).encrypt(credentials),
        credential_names=sorted(credentials),
        status=data.get("status", ACTIVE),
        options=data.get("options") or {},
    )
    return await integrations.add(integration)


async def get_integration(
    session: AsyncSession, principal: Principal, integration_id: uuid.UUID
) -> Integration:
    integration = await IntegrationRepository(session).get(principal.workspace_id, integration_id)
    if integration is None:
        raise NotFound("integration not found")
    return integration


async def list_integrations(
    session: AsyncSession,
    principal: Principal,
    *,
    kinds: tuple[IntegrationKind, ...],
    purpose: Purpose | None,
    statuses: tuple[str, ...],
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[Integration]:
    selected = set(kinds) or set(IntegrationKind)
    if purpose is not None:
        selected = {k for k in selected if KINDS[k].purpose is purpose}
    if not selected:
        return Page(items=[], next_cursor=None, has_more=False)
    filters = IntegrationFilters(
        kinds=() if selected == set(IntegrationKind) else tuple(sorted(k.value for k in selected)),
        statuses=statuses,
    )
    return await IntegrationRepository(session).page(
        principal.workspace_id, filters, sort=sort, cursor=cursor, limit=limit
    )


async def update_integration(
    session: AsyncSession,
    principal: Principal,
    integration_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None,
    settings: Settings,
) -> Integration:
    integrations = IntegrationRepository(session)
    integration = await get_integration(session, principal, integration_id)
    check_if_match(if_match, etag(integration.id, integration.version))
    kind = IntegrationKind(integration.kind)
    if "base_url" in changes:
        base_url = changes["base_url"]
        _check_base_url(kind, base_url, settings)
        integration.base_url = base_url if base_url is not None else KINDS[kind].default_base_url
    if "credentials" in changes:
        credentials: dict[str, str] = changes["credentials"]
        _raise_problems(credential_problems(kind, credentials))
        integration.credentials_encrypted = cipher_for(settings).encrypt(credentials)
        integration.credential_names = sorted(credentials)
    if "name" in changes:
        await _check_unique_name(
            integrations, principal.workspace_id, changes["name"], integration.id
        )
        integration.name = changes["name"]
    if "status" in changes:
        integration.status = changes["status"]
    if "options" in changes:
        _raise_problems(_option_problems(kind, changes["options"] or {}))
        integration.options = changes["options"]
    await session.flush()
    return integration


async def delete_integration(
    session: AsyncSession, principal: Principal, integration_id: uuid.UUID, if_match: str | None
) -> None:
    integration = await get_integration(session, principal, integration_id)
    check_if_match(if_match, etag(integration.id, integration.version))
    await IntegrationRepository(session).delete(integration)


async def test_integration(
    session: AsyncSession,
    principal: Principal,
    integration_id: uuid.UUID,
    settings: Settings,
    now: datetime,
) -> tuple[Integration, CheckResult]:
    """One real authenticated call through the provider's `check()`, made here in the API
    process (an admin waits for the answer), logged like any worker's call. Works on a
    disabled integration too: test before enabling."""
    integration = await get_integration(session, principal, integration_id)
    try:
        connection = open_connection(settings, integration)
    except CredentialsUnreadable as exc:
        result = CheckResult(ok=False, detail=exc.detail)
    else:
        try:
            result = CheckResult(ok=True, detail=await connection.provider.check())
        except ProviderError as exc:
            result = CheckResult(ok=False, detail=exc.message)
        finally:
            await connection.save(session)
        result = CheckResult(result.ok, redact(result.detail, connection.credentials))
    integration.last_checked_at = now
    integration.last_check_ok = result.ok
    integration.last_error = None if result.ok else result.detail[:MAX_ERROR_CHARS]
    await session.flush()
    return integration, result


async def list_calls(
    session: AsyncSession,
    principal: Principal,
    integration_id: uuid.UUID,
    *,
    operation: str | None,
    failed: bool | None,
    cursor: str | None,
    limit: int,
) -> Page[IntegrationCall]:
    await get_integration(session, principal, integration_id)
    return await IntegrationCallRepository(session).page(
        principal.workspace_id,
        integration_id,
        operation=operation,
        failed=failed,
        cursor=cursor,
        limit=limit,
    )


def _check(
    kind: IntegrationKind, credentials: dict[str, str], base_url: str | None, settings: Settings
) -> None:
    problems = credential_problems(kind, credentials)
    problems += _base_url_problems(kind, base_url, settings)
    _raise_problems(problems)


def _option_problems(kind: IntegrationKind, options: dict[str, Any]) -> list[dict[str, Any]]:
    """A CRM's options are its push and task-mirroring settings (`app.domain.crm`)."""
    return crm_rules.option_problems(kind, options) if KINDS[kind].purpose is Purpose.CRM else []


def _check_base_url(kind: IntegrationKind, base_url: str | None, settings: Settings) -> None:
    _raise_problems(_base_url_problems(kind, base_url, settings))


def _base_url_problems(
    kind: IntegrationKind, base_url: str | None, settings: Settings
) -> list[dict[str, Any]]:
    if base_url is None:
        return []
    if problem := base_url_problem(kind, base_url):
        messages = [problem]
    else:
        messages = check_public_url(base_url, allow_loopback=settings.allow_loopback_urls)
    return [{"loc": ["body", "base_url"], "msg": m, "type": "url"} for m in messages]


def _raise_problems(problems: list[dict[str, Any]]) -> None:
    if problems:
        raise InvalidInput("the integration is not valid", errors=problems)


async def _check_unique_name(
    integrations: IntegrationRepository,
    workspace_id: uuid.UUID,
    name: str,
    integration_id: uuid.UUID | None,
) -> None:
    same = await integrations.find_by_name(workspace_id, name)
    if same is not None and same.id != integration_id:
        raise Conflict(f"an integration named {name!r} already exists")


async def rotate_credentials(session: AsyncSession, settings: Settings) -> int:
    """Re-encrypts every integration's credentials under the first configured key, so the
    keys after it can be dropped; how many rows were rewritten. A row whose credentials
    changed meanwhile already uses the first key and is left alone."""
    cipher = cipher_for(settings)
    repository = IntegrationRepository(session)
    rewritten = 0
    for integration_id, token in await repository.stored_credentials():
        if cipher.is_current(token):
            continue
        if await repository.replace_credentials(integration_id, token, cipher.rotate(token)):
            rewritten += 1
    return rewritten
