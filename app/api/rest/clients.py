import uuid
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Path, Query, Response, status
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

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
from app.api.problems import field_problems
from app.api.rest.responses import item_problem, set_etag, set_location
from app.api.rest.schemas.client_batch import (
    MAX_CLIENT_BATCH,
    ClientBatch,
    ClientBatchItem,
    ClientBatchProblem,
    ClientBatchResult,
)
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
from app.domain.client_batch import ClientItem, Rejected
from app.domain.clients import AcquiredAtSource, ClientStatus
from app.domain.limits import text_fault
from app.errors import InvalidInput, PayloadTooLarge
from app.services import client_batch
from app.services import clients as service
from app.services.client_batch import ItemResult, ItemStatus
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


BATCH_ITEM = TypeAdapter(ClientBatchItem)


def _batch_item(index: int, raw: object) -> ClientItem | Rejected:
    try:
        item = BATCH_ITEM.validate_python(raw)
    except ValidationError as exc:
        return Rejected(index, _echoable(raw), field_problems(exc.errors()))
    fields = {name: getattr(item, name) for name in item.model_fields_set}
    del fields["external_id"]
    return ClientItem(index, item.external_id, fields)


def _echoable(raw: object) -> str | None:
    """A rejected item's external id, when it can be sent back as it came (valid Unicode
    without NUL, a sane length); otherwise the index alone names the item."""
    value = raw.get("external_id") if isinstance(raw, dict) else None
    if not isinstance(value, str) or not 0 < len(value) <= 255 or text_fault(value):
        return None
    return value


def _batch_result(result: ItemResult) -> dict[str, Any]:
    """Plain JSON: a batch answers up to 5,000 of these, too many to build models for."""
    return {
        "index": result.index,
        "status": result.status.value,
        "external_id": result.external_id,
        "id": str(result.id) if result.id is not None else None,
        "problem": item_problem(result.problem),
    }


@router.post(
    "/batch",
    operation_id="upsertClientsBatch",
    summary="Create or update 1 to 5,000 clients by the CRM's id, status and churn included",
    response_model=ClientBatchResult,
    description=(
        "A bulk `PUT /v1/clients/by-external-id/{external_id}` for imports: each item also "
        "takes `status` (with `churned_at` and `churn_reason` for a churned client). Every "
        "item is reported in order: `created`, `updated`, `unchanged` or `rejected` with a "
        "problem document. 200: none rejected; 207: some rejected, the others stored; 422: none "
        "could be stored. One item per external id per batch: a repeat is rejected, the first "
        "item applies."
    ),
    responses={
        207: {"model": ClientBatchResult, "description": "Some items rejected, the rest stored"},
        413: {"description": f"More than {MAX_CLIENT_BATCH} clients, or too large a body"},
        422: {"model": ClientBatchProblem, "description": "No item could be stored"},
    },
)
async def upsert_clients_batch(
    body: ClientBatch,
    session: SessionDep,
    principal: WritePrincipal,
    limits: LimitsDep,
    now: NowDep,
) -> JSONResponse:
    if len(body.clients) > MAX_CLIENT_BATCH:
        raise PayloadTooLarge(
            f"a batch holds at most {MAX_CLIENT_BATCH} clients, not {len(body.clients)}"
        )
    items = [_batch_item(i, raw) for i, raw in enumerate(body.clients)]
    results = await client_batch.upsert_clients(session, principal, items, limits, now)
    counts = dict.fromkeys(ItemStatus, 0)
    for result in results:
        counts[result.status] += 1
    rendered = [_batch_result(r) for r in results]
    rejected = counts[ItemStatus.REJECTED]
    if rejected == len(results):
        raise InvalidInput(
            "no client of the batch could be stored", extensions={"results": rendered}
        )
    summary = {
        "created": counts[ItemStatus.CREATED],
        "updated": counts[ItemStatus.UPDATED],
        "unchanged": counts[ItemStatus.UNCHANGED],
        "rejected": rejected,
        "results": rendered,
    }
    return JSONResponse(summary, status_code=207 if rejected else 200)


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


@router.get("/{client_id:uuid}", operation_id="getClient", summary="Get a client")
async def get_client(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    now: NowDep,
    response: Response,
) -> ClientRead:
    return _read(response, await service.get_client(session, principal, client_id, now))


@router.patch("/{client_id:uuid}", operation_id="updateClient", summary="Update a client")
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
    "/{client_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteClient",
    summary="Delete a client with its contacts and contracts",
)
async def delete_client(
    client_id: uuid.UUID, session: SessionDep, principal: WritePrincipal, if_match: IfMatch = None
) -> None:
    await service.delete_client(session, principal, client_id, if_match)


@router.post(
    "/{client_id:uuid}/churn", operation_id="churnClient", summary="Record that a client churned"
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
    "/{client_id:uuid}/reactivate",
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
    "/{client_id:uuid}/stage-history",
    operation_id="listClientStageHistory",
    summary="Every lifecycle stage change of a client, oldest first",
)
async def stage_history(
    client_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal
) -> list[StageChangeRead]:
    changes = await service.stage_history(session, principal, client_id)
    return [StageChangeRead.model_validate(c, from_attributes=True) for c in changes]
