import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from app.api.deps import (
    DEFAULT_PAGE_LIMIT,
    CursorParam,
    IfMatch,
    Limit,
    NowDep,
    ReadPrincipal,
    SessionDep,
    WritePrincipal,
)
from app.api.rest.responses import set_etag, set_location
from app.api.rest.schemas.email_templates import (
    EmailPreview,
    EmailPreviewRequest,
    EmailSourcePreviewRequest,
    EmailTemplateCreate,
    EmailTemplatePage,
    EmailTemplateRead,
    EmailTemplateUpdate,
    Recipient,
)
from app.db.models import EmailTemplate
from app.domain.email_context import describe_variables
from app.domain.email_templates import TemplateSource
from app.services import email_templates as service
from app.services.email_templates import Preview

router = APIRouter(prefix="/v1/email-templates", tags=["email templates"])
EmailTemplateSort = Literal[
    "name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"
]

LANGUAGE = (
    "Subject and bodies are Jinja2 templates run in a sandbox: `{{ client.name }}`, "
    "`{% if health.band == 'at_risk' %}…{% endif %}`, `{% for k, v in "
    "client.attributes.items() %}`. Filters: `default` (also replaces a missing value: "
    "`{{ contact.first_name|default('there') }}`), `date` (`long`, `short`, `iso` or a "
    "strftime pattern), `money` (`{{ mrr|money }}`: $1,250.00, €1,250.00, 1,250.00 CHF), "
    "`upper`, `lower`, `title`, `capitalize`, `trim`, `truncate`, `replace`, `join`, "
    "`length`, `first`, `last`, `round`, `int`, `float`, `abs`, `sum`, `min`, `max`, `sort`, "
    "`reverse`, `list`, `string`, `striptags`, `urlencode`, `wordcount`, `escape`. Not "
    "available: `include`, `extends`, `import`, `autoescape`, `safe` (an HTML body escapes "
    "every value). A template is checked whole when written: syntax, unknown variables, "
    "filters and fields (422 with each problem's field and line), and a trial render for a "
    "full client and for one with nothing but a name. A render is bounded in work and size: "
    "a template that loops or builds too much fails with a clear message.\n\n"
    "Variables:\n\n" + describe_variables()
)


def _read(response: Response, template: EmailTemplate) -> EmailTemplateRead:
    set_etag(response, template.id, template.version)
    return EmailTemplateRead.model_validate(template, from_attributes=True)


def _preview(preview: Preview) -> EmailPreview:
    to = None if preview.to is None else Recipient(email=preview.to[0], name=preview.to[1])
    email = preview.email
    return EmailPreview(
        subject=email.subject, text=email.text, html=email.html, to=to, context=preview.variables
    )


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createEmailTemplate",
    summary="Create an email template",
    description=LANGUAGE,
)
async def create_email_template(
    body: EmailTemplateCreate, session: SessionDep, principal: WritePrincipal, response: Response
) -> EmailTemplateRead:
    template = await service.create_template(session, principal, body.model_dump())
    set_location(response, f"/v1/email-templates/{template.id}")
    return _read(response, template)


@router.get("", operation_id="listEmailTemplates", summary="List email templates")
async def list_email_templates(
    session: SessionDep,
    principal: ReadPrincipal,
    q: Annotated[str | None, Query(max_length=200, description="Text in the name.")] = None,
    sort: EmailTemplateSort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> EmailTemplatePage:
    page = await service.list_templates(
        session, principal, q=q, sort=sort, cursor=cursor, limit=limit
    )
    return EmailTemplatePage(
        data=[EmailTemplateRead.model_validate(t, from_attributes=True) for t in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.post(
    "/preview",
    operation_id="previewEmailTemplateSource",
    summary="Check and render an unsaved template",
    description=(
        "Checks the template as a write would (422 with every problem), then renders it for "
        "`client_id`, or for an example client when none is given. Stores nothing.\n\n" + LANGUAGE
    ),
)
async def preview_email_template_source(
    body: EmailSourcePreviewRequest, session: SessionDep, principal: WritePrincipal, now: NowDep
) -> EmailPreview:
    source = TemplateSource(body.subject, body.text_body, body.html_body)
    preview = await service.preview_source(
        session, principal, source, body.client_id, body.contact_id, now
    )
    return _preview(preview)


@router.get("/{template_id:uuid}", operation_id="getEmailTemplate", summary="Get an email template")
async def get_email_template(
    template_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, response: Response
) -> EmailTemplateRead:
    return _read(response, await service.get_template(session, principal, template_id))


@router.patch(
    "/{template_id:uuid}",
    operation_id="updateEmailTemplate",
    summary="Change an email template",
    description="Only the fields sent change; the template is checked whole again.",
)
async def update_email_template(
    template_id: uuid.UUID,
    body: EmailTemplateUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> EmailTemplateRead:
    template = await service.update_template(
        session, principal, template_id, body.model_dump(exclude_unset=True), if_match
    )
    return _read(response, template)


@router.delete(
    "/{template_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteEmailTemplate",
    summary="Delete an email template",
)
async def delete_email_template(
    template_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    if_match: IfMatch = None,
) -> None:
    await service.delete_template(session, principal, template_id, if_match)


@router.post(
    "/{template_id:uuid}/preview",
    operation_id="previewEmailTemplate",
    summary="Render a template for a client",
    description=(
        "The subject, text and HTML as they would be sent to the client's primary contact (or "
        "`contact_id`), with the context they were rendered from. Sends nothing. 422 when the "
        "client or contact is not of this workspace, or when the client's data makes the "
        "template fail.\n\n" + LANGUAGE
    ),
)
async def preview_email_template(
    template_id: uuid.UUID,
    body: EmailPreviewRequest,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
) -> EmailPreview:
    preview = await service.preview(
        session, principal, template_id, body.client_id, body.contact_id, now
    )
    return _preview(preview)
