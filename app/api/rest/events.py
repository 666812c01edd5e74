import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse
from pydantic import TypeAdapter, ValidationError

from app.api.deps import (
    DEFAULT_PAGE_LIMIT,
    CursorParam,
    Limit,
    NowDep,
    ReadPrincipal,
    SessionDep,
    WritePrincipal,
)
from app.api.problems import field_problems
from app.api.rest.responses import item_problem
from app.api.rest.schemas.common import IsoDateTime
from app.api.rest.schemas.events import (
    MAX_BATCH,
    EventBatch,
    EventBatchProblem,
    EventBatchResult,
    EventIn,
    EventPage,
    EventRead,
    EventTypeRead,
    PropertyRuleRead,
    ValueRuleRead,
)
from app.db.repositories.events import EventFilters
from app.domain.events import CATALOGUE, CUSTOM_TYPE, EventType
from app.errors import InvalidInput, PayloadTooLarge
from app.services import events as service
from app.services.events import EventInput, ItemProblem, ItemResult, ItemStatus

router = APIRouter(tags=["events"])
EVENT_IN = TypeAdapter(EventIn)
TypeFilter = Annotated[
    list[Annotated[str, Query(max_length=80)]] | None,
    Query(description="Only these types; repeat the parameter for several."),
]


def _parse(raw: object) -> EventInput | ItemProblem:
    try:
        item = EVENT_IN.validate_python(raw)
    except ValidationError as exc:
        errors = field_problems(exc.errors())
        return ItemProblem(422, "Unprocessable content", "the event has invalid fields", errors)
    return EventInput(
        client_id=item.client_id,
        client_external_id=item.client_external_id,
        type=item.type,
        occurred_at=item.occurred_at,
        value=item.value,
        properties=item.properties,
        contact_id=item.contact_id,
        contact_email=item.contact_email,
        source=item.source,
        external_id=item.external_id,
    )


def _result(result: ItemResult) -> dict[str, Any]:
    """Plain JSON: a batch answers up to 5,000 of these, too many to build models for."""
    return {
        "index": result.index,
        "status": result.status.value,
        "id": str(result.id) if result.id is not None else None,
        "problem": item_problem(result.problem),
    }


@router.post(
    "/v1/events",
    operation_id="ingestEvents",
    summary="Ingest a batch of 1 to 5,000 activity events",
    response_model=EventBatchResult,
    description=(
        "Every item is reported in order. 200: all stored or duplicates; 207: some items were "
        "rejected, the others stored; 422: none could be stored."
    ),
    responses={
        207: {"model": EventBatchResult, "description": "Some items rejected, the rest stored"},
        422: {"model": EventBatchProblem, "description": "No item could be stored"},
    },
)
async def ingest_events(
    body: EventBatch,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
) -> JSONResponse:
    if len(body.events) > MAX_BATCH:
        raise PayloadTooLarge(f"a batch holds at most {MAX_BATCH} events, not {len(body.events)}")
    results = await service.ingest(
        session,
        principal,
        [_parse(raw) for raw in body.events],
        upsert_clients=body.upsert_clients,
        now=now,
    )
    counts = dict.fromkeys(ItemStatus, 0)
    for result in results:
        counts[result.status] += 1
    items = [_result(r) for r in results]
    rejected = counts[ItemStatus.REJECTED]
    if rejected == len(results):
        raise InvalidInput("no event of the batch could be stored", extensions={"results": items})
    summary = {
        "created": counts[ItemStatus.CREATED],
        "duplicates": counts[ItemStatus.DUPLICATE],
        "rejected": rejected,
        "results": items,
    }
    return JSONResponse(summary, status_code=207 if rejected else 200)


@dataclass(frozen=True)
class TimelineQuery:
    types: tuple[str, ...]
    occurred_from: datetime | None
    occurred_to: datetime | None
    cursor: str | None
    limit: int


def timeline_query(
    type: TypeFilter = None,
    occurred_from: Annotated[IsoDateTime | None, Query(description="Inclusive.")] = None,
    occurred_to: Annotated[IsoDateTime | None, Query(description="Exclusive.")] = None,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> TimelineQuery:
    """The filters and paging both event lists share."""
    return TimelineQuery(tuple(type or ()), occurred_from, occurred_to, cursor, limit)


TimelineQueryDep = Annotated[TimelineQuery, Depends(timeline_query)]


@router.get("/v1/events", operation_id="listEvents", summary="Events across the workspace")
async def list_events(
    session: SessionDep,
    principal: ReadPrincipal,
    query: TimelineQueryDep,
    client_id: uuid.UUID | None = None,
    source: Annotated[str | None, Query(max_length=64)] = None,
) -> EventPage:
    return await _page(session, principal, query, client_id=client_id, source=source)


@router.get(
    "/v1/clients/{client_id}/events",
    operation_id="listClientEvents",
    summary="A client's timeline, newest first",
)
async def list_client_events(
    client_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, query: TimelineQueryDep
) -> EventPage:
    return await _page(session, principal, query, client_id=client_id)


async def _page(
    session: SessionDep,
    principal: ReadPrincipal,
    query: TimelineQuery,
    *,
    client_id: uuid.UUID | None,
    source: str | None = None,
) -> EventPage:
    filters = EventFilters(
        client_id=client_id,
        types=query.types,
        source=source,
        occurred_from=query.occurred_from,
        occurred_to=query.occurred_to,
    )
    page = await service.list_events(
        session, principal, filters, cursor=query.cursor, limit=query.limit
    )
    return EventPage(
        data=[EventRead.model_validate(e, from_attributes=True) for e in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get(
    "/v1/event-types",
    operation_id="listEventTypes",
    summary="The event catalogue with each type's validation rules",
)
async def list_event_types(principal: ReadPrincipal) -> list[EventTypeRead]:
    return [_type_read(t) for t in (*CATALOGUE.values(), CUSTOM_TYPE)]


def _type_read(event_type: EventType) -> EventTypeRead:
    rule = event_type.value
    return EventTypeRead(
        name=event_type.name,
        description=event_type.description,
        value=ValueRuleRead(
            required=rule.required,
            minimum=rule.minimum,
            maximum=rule.maximum,
            integer=rule.integer,
            description=rule.description,
        ),
        properties=[
            PropertyRuleRead(
                name=name,
                kind=p.kind.value,
                required=p.required,
                choices=list(p.choices),
                description=p.description,
            )
            for name, p in event_type.properties.items()
        ],
    )
