"""Event ingestion: every item of a batch is stored once, reported as duplicate, or rejected
with its reasons; valid items are never dropped because others were bad."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Event
from app.db.repositories.events import EventFilters, EventRepository, KnownClient
from app.db.repositories.paging import Page
from app.domain import ingestion
from app.domain.api_keys import Principal
from app.domain.clients import AcquiredAtSource
from app.domain.events import Problem, validate_event
from app.domain.ingestion import AcceptedEvent
from app.facts import EventsIngested, IngestedEvents
from app.services.clients import load_client
from app.services.outbox import announce_changed_clients
from app.services.workspaces import get_workspace


class ItemStatus(StrEnum):
    CREATED = "created"
    DUPLICATE = "duplicate"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ItemProblem:
    status: int
    title: str
    detail: str
    errors: list[dict[str, Any]] = field(default_factory=list)


@dataclass(frozen=True)
class EventInput:
    client_id: uuid.UUID | None
    client_external_id: str | None
    type: str
    occurred_at: datetime
    value: float | None
    properties: dict[str, Any]
    contact_id: uuid.UUID | None
    contact_email: str | None
    source: str
    external_id: str | None


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: ItemStatus
    id: uuid.UUID | None = None
    problem: ItemProblem | None = None


async def ingest(
    session: AsyncSession,
    principal: Principal,
    items: list[EventInput | ItemProblem],
    *,
    upsert_clients: bool,
    now: datetime,
) -> list[ItemResult]:
    """One transaction for the whole batch; the dedupe keys make concurrent retries safe."""
    workspace_id = principal.workspace_id
    events = EventRepository(session)
    results: dict[int, ItemResult] = {
        i: ItemResult(i, ItemStatus.REJECTED, problem=item)
        for i, item in enumerate(items)
        if isinstance(item, ItemProblem)
    }
    inputs = {i: item for i, item in enumerate(items) if isinstance(item, EventInput)}
    rule_problems = {
        i: validate_event(item.type, item.value, item.properties, item.occurred_at, now)
        for i, item in inputs.items()
    }
    # A client is created only for an item that will be stored: a rejected one leaves no trace.
    # A contact_id cannot belong to a client that does not exist yet, so such an item never can.
    creatable = [
        item.client_external_id
        for i, item in inputs.items()
        if item.client_external_id and not rule_problems[i] and item.contact_id is None
    ]
    clients = await _resolve_clients(
        session, workspace_id, inputs, creatable if upsert_clients else [], now
    )
    contact_clients, contacts_by_email = await events.contacts(
        workspace_id,
        [e.contact_id for e in inputs.values() if e.contact_id is not None],
        [e.contact_email.lower() for e in inputs.values() if e.contact_email is not None],
    )
    accepted: list[AcceptedEvent] = []
    for index, item in inputs.items():
        client = (
            clients.by_id.get(item.client_id)
            if item.client_id is not None
            else clients.by_external_id.get(item.client_external_id or "")
        )
        problems = _problems(
            item,
            client,
            contact_clients,
            rule_problems[index],
            upserting=upsert_clients and item.client_external_id is not None,
        )
        if problems:
            results[index] = ItemResult(index, ItemStatus.REJECTED, problem=problems)
            continue
        assert client is not None
        contact_id = item.contact_id
        if contact_id is None and item.contact_email is not None:
            contact_id = contacts_by_email.get((client.id, item.contact_email.lower()))
        accepted.append(
            AcceptedEvent(
                index=index,
                id=uuid.uuid4(),
                client_id=client.id,
                type=item.type,
                occurred_at=item.occurred_at,
                value=item.value,
                properties=item.properties,
                contact_id=contact_id,
                source=item.source,
                external_id=item.external_id,
            )
        )

    batch = ingestion.dedupe_within_batch(accepted)
    keyed = [e for e in batch.unique if e.external_id is not None]
    claimed, stored_ids = await _claim(events, workspace_id, keyed)
    already_stored = [e for e in keyed if e.id not in claimed]
    new = [e for e in batch.unique if e.external_id is None or e.id in claimed]
    await events.insert_events(workspace_id, new, now)
    acquired = {  # escalations count from a given acquisition date; a derived one moves
        c.id: c.acquired_at if c.acquired_at_source == AcquiredAtSource.GIVEN else None
        for c in clients.by_id.values()
    }
    await events.apply_client_facts(ingestion.client_facts(new, acquired))
    await events.record_tickets(workspace_id, ingestion.ticket_moments(new))
    await announce_changed_clients(
        session,
        workspace_id,
        {e.client_id for e in new},
        now,
        also=EventsIngested.split(_ingested(new)),
    )
    await session.flush()

    for event in new:
        results[event.index] = ItemResult(event.index, ItemStatus.CREATED, id=event.id)
    for event in already_stored:
        stored = stored_ids.get(_key(event))
        results[event.index] = ItemResult(event.index, ItemStatus.DUPLICATE, id=stored)
    for repeat, first in batch.repeats.items():
        first_result = results[first]
        results[repeat] = ItemResult(repeat, ItemStatus.DUPLICATE, id=first_result.id)
    return [results[i] for i in range(len(items))]


def _ingested(new: list[AcceptedEvent]) -> list[IngestedEvents]:
    """The batch's stored events per client and type, for `event.ingested` triggers."""
    groups: dict[tuple[uuid.UUID, str], list[AcceptedEvent]] = {}
    for event in new:
        groups.setdefault((event.client_id, event.type), []).append(event)
    return [
        IngestedEvents(
            client_id=client_id,
            type=type_name,
            count=len(events),
            last_occurred_at=max(e.occurred_at for e in events),
        )
        for (client_id, type_name), events in groups.items()
    ]


async def _claim(
    events: EventRepository, workspace_id: uuid.UUID, keyed: list[AcceptedEvent]
) -> tuple[set[uuid.UUID], dict[tuple[str, str], uuid.UUID]]:
    """The ids of events whose key was new, and the stored event of every other key. Keys are
    deleted with their client's events, so a duplicate always names an event that is stored."""
    claimed = await events.claim_keys(workspace_id, keyed)
    taken = [_key(e) for e in keyed if e.id not in claimed]
    return claimed, await events.stored_event_ids(workspace_id, taken)


def _key(event: AcceptedEvent) -> tuple[str, str]:
    return (event.source, event.external_id or "")


@dataclass(frozen=True)
class _Clients:
    by_id: dict[uuid.UUID, KnownClient]
    by_external_id: dict[str, KnownClient]


async def _resolve_clients(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    inputs: dict[int, EventInput],
    creatable: list[str],
    now: datetime,
) -> _Clients:
    """Finds the items' clients, creating minimal ones for the unknown `creatable` ids."""
    events = EventRepository(session)
    ids = [e.client_id for e in inputs.values() if e.client_id is not None]
    external_ids = [e.client_external_id for e in inputs.values() if e.client_external_id]
    by_external_id = await events.clients_by_external_id(workspace_id, external_ids)
    missing = sorted(set(creatable) - set(by_external_id))
    if missing:
        workspace = await get_workspace(session, workspace_id)
        await events.create_minimal_clients(
            workspace_id, missing, workspace.lifecycle_stages[0], now
        )
        by_external_id = await events.clients_by_external_id(workspace_id, external_ids)
    by_id = await events.clients_by_id(workspace_id, ids)
    by_id.update({c.id: c for c in by_external_id.values()})
    return _Clients(by_id=by_id, by_external_id=by_external_id)


def _problems(
    item: EventInput,
    client: KnownClient | None,
    contact_clients: dict[uuid.UUID, uuid.UUID],
    rule_problems: list[Problem],
    *,
    upserting: bool,
) -> ItemProblem | None:
    """`upserting`: a missing client was left uncreated because of the item's other problems."""
    errors = [
        {"loc": _loc(p.field), "msg": p.message, "type": "value_error"} for p in rule_problems
    ]
    if client is None and not (upserting and (errors or item.contact_id is not None)):
        field_name = "client_id" if item.client_id is not None else "client_external_id"
        errors.append({"loc": [field_name], "msg": "no such client", "type": "reference"})
    elif item.contact_id is not None and (
        client is None or contact_clients.get(item.contact_id) != client.id
    ):
        errors.append(
            {"loc": ["contact_id"], "msg": "no such contact at this client", "type": "reference"}
        )
    if not errors:
        return None
    return ItemProblem(
        status=422,
        title="Unprocessable content",
        detail="; ".join(f"{'.'.join(map(str, e['loc']))} {e['msg']}" for e in errors),
        errors=errors,
    )


def _loc(field_path: str) -> list[str]:
    return field_path.split(".")


async def list_events(
    session: AsyncSession,
    principal: Principal,
    filters: EventFilters,
    *,
    cursor: str | None,
    limit: int,
) -> Page[Event]:
    if filters.client_id is not None:
        await load_client(session, principal, filters.client_id)
    return await EventRepository(session).page(
        principal.workspace_id, filters, cursor=cursor, limit=limit
    )
