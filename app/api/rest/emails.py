import uuid
from typing import Annotated

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
from app.api.rest.schemas.common import IsoDateTime
from app.api.rest.schemas.emails import (
    EmailPage,
    EmailRead,
    EmailSettingsRead,
    EmailSettingsUpdate,
    SuppressionCreate,
    SuppressionPage,
    SuppressionRead,
)
from app.db.models import Email
from app.db.repositories.emails import EmailFilters
from app.domain.emails import EmailSettings, EmailStatus, SuppressionReason, to_document
from app.services import email_suppressions as suppressions
from app.services import emails as service

router = APIRouter(tags=["emails"])


def _read(response: Response, email: Email) -> EmailRead:
    set_etag(response, email.id, email.version)
    return EmailRead.model_validate(email, from_attributes=True)


@router.get(
    "/v1/emails",
    operation_id="listEmails",
    summary="List emails, newest first",
    description=(
        "Every email the `send_email` action made: sent, queued, failed, suppressed (with the "
        "guard's reason), drafts waiting for review and discarded drafts."
    ),
)
async def list_emails(
    session: SessionDep,
    principal: ReadPrincipal,
    client_id: Annotated[uuid.UUID | None, Query(description="Emails about this client.")] = None,
    status: Annotated[
        list[EmailStatus] | None,
        Query(description="Only these statuses; repeat the parameter for several."),
    ] = None,
    to: Annotated[
        str | None, Query(max_length=320, description="To this address (any case).")
    ] = None,
    created_from: Annotated[
        IsoDateTime | None, Query(description="Made at or after this time.")
    ] = None,
    created_before: Annotated[
        IsoDateTime | None, Query(description="Made before this time (exclusive).")
    ] = None,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> EmailPage:
    filters = EmailFilters(
        client_id=client_id,
        statuses=tuple(s.value for s in status or ()),
        to_email=to,
        created_from=created_from,
        created_before=created_before,
    )
    page = await service.list_emails(session, principal, filters, cursor=cursor, limit=limit)
    return EmailPage(
        data=[EmailRead.model_validate(e, from_attributes=True) for e in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


def _settings(response: Response, settings: EmailSettings, tag: str) -> EmailSettingsRead:
    response.headers["ETag"] = tag
    return EmailSettingsRead.model_validate(to_document(settings))


@router.get(
    "/v1/email-settings",
    operation_id="getEmailSettings",
    summary="The per-contact cap and the default review mode of emails",
)
async def get_email_settings(
    session: SessionDep, principal: ReadPrincipal, response: Response
) -> EmailSettingsRead:
    settings, tag = await service.get_settings(session, principal)
    return _settings(response, settings, tag)


@router.patch(
    "/v1/email-settings",
    operation_id="updateEmailSettings",
    summary="Change the per-contact cap or the default review mode",
    description="Only the fields sent change; they apply to emails made from now on.",
)
async def update_email_settings(
    body: EmailSettingsUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> EmailSettingsRead:
    settings, tag = await service.update_settings(
        session, principal, body.model_dump(exclude_unset=True), if_match
    )
    return _settings(response, settings, tag)


@router.get("/v1/emails/{email_id}", operation_id="getEmail", summary="Get an email")
async def get_email(
    email_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, response: Response
) -> EmailRead:
    return _read(response, await service.get_email(session, principal, email_id))


@router.post(
    "/v1/emails/{email_id}/approve",
    operation_id="approveEmail",
    summary="Send a draft written in review mode",
    description=(
        "The guards are checked again (the client may have churned, the address been "
        "suppressed, the per-contact cap filled since the draft was written): a refusal "
        "answers 409 with the reason and leaves the draft. Otherwise the email is queued for "
        "sending and its review task is done. 409 when it is not a draft."
    ),
)
async def approve_email(
    email_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> EmailRead:
    email = await service.approve(session, principal, email_id, if_match, now)
    return _read(response, email)


@router.post(
    "/v1/emails/{email_id}/discard",
    operation_id="discardEmail",
    summary="Throw a draft away",
    description="The draft is kept as `discarded`; its review task is cancelled.",
)
async def discard_email(
    email_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> EmailRead:
    email = await service.discard(session, principal, email_id, if_match, now)
    return _read(response, email)


# Suppressions --------------------------------------------------------------------------------


@router.get(
    "/v1/email-suppressions",
    operation_id="listEmailSuppressions",
    summary="List the addresses Tenure must not email, newest first",
)
async def list_suppressions(
    session: SessionDep,
    principal: ReadPrincipal,
    email: Annotated[
        str | None, Query(max_length=320, description="This address (any case).")
    ] = None,
    reason: Annotated[
        list[SuppressionReason] | None,
        Query(description="Only these reasons; repeat the parameter for several."),
    ] = None,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> SuppressionPage:
    page = await suppressions.list_suppressions(
        session,
        principal,
        email=email,
        reasons=tuple(r.value for r in reason or ()),
        cursor=cursor,
        limit=limit,
    )
    return SuppressionPage(
        data=[SuppressionRead.model_validate(s, from_attributes=True) for s in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.post(
    "/v1/email-suppressions",
    status_code=status.HTTP_201_CREATED,
    operation_id="createEmailSuppression",
    summary="Stop emails to an address",
    description=(
        "Emails to it are recorded as `suppressed` from now on. An address listed already "
        "keeps its entry with the new reason, answered with 200."
    ),
    responses={200: {"description": "The address was listed already; its entry was updated"}},
)
async def create_suppression(
    body: SuppressionCreate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
) -> SuppressionRead:
    entry, created = await suppressions.suppress(
        session, principal.workspace_id, body.email, body.reason, "api", body.detail, now
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    set_location(response, f"/v1/email-suppressions/{entry.id}")
    return SuppressionRead.model_validate(entry, from_attributes=True)


@router.get(
    "/v1/email-suppressions/{suppression_id}",
    operation_id="getEmailSuppression",
    summary="Get a suppressed address",
)
async def get_suppression(
    suppression_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal
) -> SuppressionRead:
    entry = await suppressions.get_suppression(session, principal, suppression_id)
    return SuppressionRead.model_validate(entry, from_attributes=True)


@router.delete(
    "/v1/email-suppressions/{suppression_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteEmailSuppression",
    summary="Allow emails to an address again",
)
async def delete_suppression(
    suppression_id: uuid.UUID, session: SessionDep, principal: WritePrincipal
) -> None:
    await suppressions.remove_suppression(session, principal, suppression_id)
