import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status

from app.api.deps import (
    DEFAULT_PAGE_LIMIT,
    CursorParam,
    IfMatch,
    Limit,
    NowDep,
    ReadPrincipal,
    SessionDep,
    SettingsDep,
    WritePrincipal,
)
from app.api.rest.responses import set_etag, set_location
from app.api.rest.schemas.clients import (
    ClientChurn,
    ClientCreate,
    ClientPage,
    ClientRead,
    ClientUpdate,
    ClientUpsert,
    StageChangeRead,
)
from app.db.repositories.clients import ClientFilters
from app.domain.clients import AcquiredAtSource, ClientStatus
from app.services import clients as service
from app.services.clients import ClientLimits, ClientView

router = APIRouter(prefix="/v1/clients", tags=["clients"])
ClientSort = Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]


def get_limits(settings: SettingsDep) -> ClientLimits:
    return ClientLimits(max_attributes_bytes=settings.max_attributes_bytes)


LimitsDep = Annotated[ClientLimits, Depends(get_limits)]


def to_read(view: ClientView) -> ClientRead:
    c = view.client
    return ClientRead(
        id=c.id,
        name=c.name,
        external_id=c.external_id,
        domain=c.domain,
        owner_id=c.owner_id,
        tier=c.tier,
        lifecycle_stage=c.lifecycle_stage,
        stage_changed_at=c.stage_changed_at,
        status=c.status,
        acquired_at=c.acquired_at,
        acquired_at_source=AcquiredAtSource(c.acquired_at_source),
        churned_at=c.churned_at,
        churn_reason=c.churn_reason,
        attributes=c.attributes,
        mrr=view.mrr,
        next_renewal_on=view.next_renewal_on,
        last_activity_at=c.last_activity_at,
        last_touchpoint_at=c.last_touchpoint_at,
        open_tickets=c.open_tickets,
        first_escalation_at=c.first_escalation_at,
        created_at=c.created_at,
        updated_at=c.updated_at,
    )


def _read(response: Response, view: ClientView) -> ClientRead:
    set_etag(response, view.client.id, view.client.version)
    return to_read(view)


@router.post(
    "", status_code=status.HTTP_201_CREATED, operation_id="createClient", summary="Create a client"
)
async def create_client(
    body: ClientCreate,
    session: SessionDep,
    principal: WritePrincipal,
    limits: LimitsDep,
    now: NowDep,
    response: Response,
) -> ClientRead:
    view = await service.create_client(
        session, principal, body.model_dump(exclude_unset=True), limits, now
    )
    set_location(response, f"/v1/clients/{view.client.id}")
    return _read(response, view)


@router.get("", operation_id="listClients", summary="List and search clients")
async def list_clients(
    session: SessionDep,
    principal: ReadPrincipal,
    now: NowDep,
    owner_id: uuid.UUID | None = None,
    tier: Annotated[str | None, Query(max_length=64)] = None,
    lifecycle_stage: Annotated[str | None, Query(max_length=64)] = None,
    status: ClientStatus | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in name or domain.")] = None,
    sort: ClientSort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> ClientPage:
    filters = ClientFilters(
        owner_id=owner_id,
        tier=tier,
        lifecycle_stage=lifecycle_stage,
        status=status.value if status else None,
        q=q,
    )
    page = await service.list_clients(
        session, principal, filters, sort=sort, cursor=cursor, limit=limit, now=now
    )
    return ClientPage(
        data=[to_read(v) for v in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.put(
    "/by-external-id/{external_id}",
    operation_id="upsertClientByExternalId",
    summary="Create or update a client by the CRM's id",
    responses={201: {"description": "Created", "model": ClientRead}},
)
async def upsert_client(
    external_id: Annotated[str, Path(min_length=1, max_length=255, pattern=r"^\S(.*\S)?$")],
    body: ClientUpsert,
    session: SessionDep,
    principal: WritePrincipal,
    limits: LimitsDep,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> ClientRead:
    view, created = await service.upsert_client_by_external_id(
        session, principal, external_id, body.model_dump(exclude_unset=True), limits, if_match, now
    )
    if created:
        response.status_code = status.HTTP_201_CREATED
        set_location(response, f"/v1/clients/{view.client.id}")
    return _read(response, view)


@router.get("/{client_id}", operation_id="getClient", summary="Get a client")
async def get_client(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    now: NowDep,
    response: Response,
) -> ClientRead:
    return _read(response, await service.get_client(session, principal, client_id, now))


@router.patch("/{client_id}", operation_id="updateClient", summary="Update a client")
async def update_client(
    client_id: uuid.UUID,
    body: ClientUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    limits: LimitsDep,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> ClientRead:
    view = await service.update_client(
        session, principal, client_id, body.model_dump(exclude_unset=True), limits, if_match, now
    )
    return _read(response, view)


@router.delete(
    "/{client_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteClient",
    summary="Delete a client with its contacts and contracts",
)
async def delete_client(
    client_id: uuid.UUID, session: SessionDep, principal: WritePrincipal, if_match: IfMatch = None
) -> None:
    await service.delete_client(session, principal, client_id, if_match)


@router.post(
    "/{client_id}/churn", operation_id="churnClient", summary="Record that a client churned"
)
async def churn_client(
    client_id: uuid.UUID,
    body: ClientChurn,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> ClientRead:
    view = await service.churn_client(
        session, principal, client_id, body.reason, body.occurred_at, if_match, now
    )
    return _read(response, view)


@router.post(
    "/{client_id}/reactivate",
    operation_id="reactivateClient",
    summary="Bring a churned client back to active",
)
async def reactivate_client(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> ClientRead:
    view = await service.reactivate_client(session, principal, client_id, if_match, now)
    return _read(response, view)


@router.get(
    "/{client_id}/stage-history",
    operation_id="listClientStageHistory",
    summary="Every lifecycle stage change of a client, oldest first",
)
async def stage_history(
    client_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal
) -> list[StageChangeRead]:
    changes = await service.stage_history(session, principal, client_id)
    return [StageChangeRead.model_validate(c, from_attributes=True) for c in changes]
