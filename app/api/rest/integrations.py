import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from app.api.deps import (
    DEFAULT_PAGE_LIMIT,
    AdminPrincipal,
    CursorParam,
    IfMatch,
    Limit,
    NowDep,
    SessionDep,
    SettingsDep,
)
from app.api.rest.responses import set_etag, set_location
from app.api.rest.schemas.common import QueryBool
from app.api.rest.schemas.integrations import (
    IntegrationCallPage,
    IntegrationCallRead,
    IntegrationCheckRead,
    IntegrationCreate,
    IntegrationPage,
    IntegrationRead,
    IntegrationStatus,
    IntegrationUpdate,
)
from app.db.models import Integration
from app.domain.integrations import KINDS, IntegrationKind, Purpose
from app.services import integrations as service

router = APIRouter(prefix="/v1/integrations", tags=["integrations"])
IntegrationSort = Literal["created_at", "-created_at", "name", "-name"]


def _view(integration: Integration) -> IntegrationRead:
    kind = IntegrationKind(integration.kind)
    return IntegrationRead(
        id=integration.id,
        kind=kind,
        purpose=KINDS[kind].purpose,
        name=integration.name,
        base_url=integration.base_url,
        credential_names=list(integration.credential_names),
        status="active" if integration.status == "active" else "disabled",
        options=integration.options,
        last_checked_at=integration.last_checked_at,
        last_check_ok=integration.last_check_ok,
        last_error=integration.last_error,
        created_at=integration.created_at,
        updated_at=integration.updated_at,
    )


def _read(response: Response, integration: Integration) -> IntegrationRead:
    set_etag(response, integration.id, integration.version)
    return _view(integration)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createIntegration",
    summary="Connect a provider account (email or CRM)",
    description=(
        "The credentials are checked against the kind's fields, stored encrypted and never "
        "returned. Nothing is called here: `POST /v1/integrations/{integration_id}/test` "
        "makes a real call with them."
    ),
)
async def create_integration(
    body: IntegrationCreate,
    session: SessionDep,
    principal: AdminPrincipal,
    settings: SettingsDep,
    response: Response,
) -> IntegrationRead:
    integration = await service.create_integration(session, principal, body.model_dump(), settings)
    set_location(response, f"/v1/integrations/{integration.id}")
    return _read(response, integration)


@router.get("", operation_id="listIntegrations", summary="List the workspace's integrations")
async def list_integrations(
    session: SessionDep,
    principal: AdminPrincipal,
    kind: Annotated[
        list[IntegrationKind] | None,
        Query(description="Only these kinds; repeat the parameter for several."),
    ] = None,
    purpose: Annotated[Purpose | None, Query(description="Only email or only CRM.")] = None,
    status: Annotated[IntegrationStatus | None, Query(description="Only this status.")] = None,
    sort: IntegrationSort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> IntegrationPage:
    page = await service.list_integrations(
        session,
        principal,
        kinds=tuple(kind or ()),
        purpose=purpose,
        statuses=(status,) if status else (),
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return IntegrationPage(
        data=[_view(i) for i in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get("/{integration_id}", operation_id="getIntegration", summary="Get an integration")
async def get_integration(
    integration_id: uuid.UUID, session: SessionDep, principal: AdminPrincipal, response: Response
) -> IntegrationRead:
    return _read(response, await service.get_integration(session, principal, integration_id))


@router.patch(
    "/{integration_id}",
    operation_id="updateIntegration",
    summary="Rename, disable, re-point or re-key an integration",
    description="Only the fields sent change; `credentials`, when sent, replace the whole set.",
)
async def update_integration(
    integration_id: uuid.UUID,
    body: IntegrationUpdate,
    session: SessionDep,
    principal: AdminPrincipal,
    settings: SettingsDep,
    response: Response,
    if_match: IfMatch = None,
) -> IntegrationRead:
    integration = await service.update_integration(
        session,
        principal,
        integration_id,
        body.model_dump(exclude_unset=True),
        if_match,
        settings,
    )
    return _read(response, integration)


@router.delete(
    "/{integration_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteIntegration",
    summary="Delete an integration and its call log",
)
async def delete_integration(
    integration_id: uuid.UUID,
    session: SessionDep,
    principal: AdminPrincipal,
    if_match: IfMatch = None,
) -> None:
    await service.delete_integration(session, principal, integration_id, if_match)


@router.post(
    "/{integration_id}/test",
    operation_id="testIntegration",
    summary="Make one real authenticated call to the provider",
    description=(
        "For SendGrid, its scopes; for Postmark, its server; for SMTP, a login; for the CRMs, "
        "the account. `ok=false` with the provider's reason when it fails (the answer is still "
        "200: the test ran). The call is logged and the integration's `last_checked_at`, "
        "`last_check_ok` and `last_error` record the outcome."
    ),
)
async def test_integration(
    integration_id: uuid.UUID,
    session: SessionDep,
    principal: AdminPrincipal,
    settings: SettingsDep,
    now: NowDep,
) -> IntegrationCheckRead:
    _integration, result = await service.test_integration(
        session, principal, integration_id, settings, now
    )
    return IntegrationCheckRead(ok=result.ok, detail=result.detail)


@router.get(
    "/{integration_id}/calls",
    operation_id="listIntegrationCalls",
    summary="Outbound calls to the provider, newest first",
    description=(
        "Every attempt (a retry is a call of its own), kept for "
        "`TENURE_INTEGRATION_CALL_RETENTION_DAYS` (30 by default)."
    ),
)
async def list_integration_calls(
    integration_id: uuid.UUID,
    session: SessionDep,
    principal: AdminPrincipal,
    operation: Annotated[
        str | None, Query(max_length=64, description="Only calls of this operation.")
    ] = None,
    failed: Annotated[
        QueryBool | None, Query(description="true: only failed calls; false: only successful.")
    ] = None,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> IntegrationCallPage:
    page = await service.list_calls(
        session,
        principal,
        integration_id,
        operation=operation,
        failed=failed,
        cursor=cursor,
        limit=limit,
    )
    return IntegrationCallPage(
        data=[IntegrationCallRead.model_validate(c, from_attributes=True) for c in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )
