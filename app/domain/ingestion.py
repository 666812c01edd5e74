"""What a batch of accepted events changes: duplicates within it, and the client facts it moves.

Facts are maxima and minima, so applying batches in any order gives the same answer: history
may be backfilled out of order."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from app.domain.events import ACTIVITY_TYPES, CUSTOM_PREFIX


@dataclass(frozen=True)
class AcceptedEvent:
    index: int
    id: uuid.UUID
    client_id: uuid.UUID
    type: str
    occurred_at: datetime
    value: float | None
    properties: dict[str, Any]
    contact_id: uuid.UUID | None
    source: str
    external_id: str | None


@dataclass(frozen=True)
class BatchDedupe:
    unique: list[AcceptedEvent]
    repeats: dict[int, int]
    """Index of a repeated item → index of the first item with its key."""


def dedupe_within_batch(events: list[AcceptedEvent]) -> BatchDedupe:
    first_by_key: dict[tuple[str, str], int] = {}
    unique: list[AcceptedEvent] = []
    repeats: dict[int, int] = {}
    for event in events:
        if event.external_id is None:
            unique.append(event)
            continue
        key = (event.source, event.external_id)
        if key in first_by_key:
            repeats[event.index] = first_by_key[key]
        else:
            first_by_key[key] = event.index
            unique.append(event)
    return BatchDedupe(unique=unique, repeats=repeats)


@dataclass(frozen=True)
class ClientFacts:
    """The latest or earliest moments a batch shows; None means the batch says nothing."""

    client_id: uuid.UUID
    last_activity_at: datetime | None
    last_touchpoint_at: datetime | None
    first_escalation_at: datetime | None
    first_activity_at: datetime | None = None
    """Moves a derived `acquired_at` earlier (see app.domain.clients.history_start)."""


def client_facts(
    events: list[AcceptedEvent], acquired_at: dict[uuid.UUID, datetime | None]
) -> list[ClientFacts]:
    """`acquired_at`: each client's given acquisition date, before which escalations do not
    count; None for a derived one, which this batch's activity moves to or before its first
    escalation, so then every escalation counts."""
    activity: dict[uuid.UUID, datetime] = {}
    first_activity: dict[uuid.UUID, datetime] = {}
    touchpoint: dict[uuid.UUID, datetime] = {}
    escalation: dict[uuid.UUID, datetime] = {}
    for e in events:
        if e.type in ACTIVITY_TYPES or e.type.startswith(CUSTOM_PREFIX):
            activity[e.client_id] = max(activity.get(e.client_id, e.occurred_at), e.occurred_at)
            earliest = first_activity.get(e.client_id, e.occurred_at)
            first_activity[e.client_id] = min(earliest, e.occurred_at)
        if e.type == "touchpoint":
            touchpoint[e.client_id] = max(touchpoint.get(e.client_id, e.occurred_at), e.occurred_at)
        if e.type == "ticket_escalated":
            since = acquired_at.get(e.client_id)
            if since is None or e.occurred_at >= since:
                earliest = escalation.get(e.client_id, e.occurred_at)
                escalation[e.client_id] = min(earliest, e.occurred_at)
    touched = sorted(set(activity) | set(touchpoint) | set(escalation))
    return [
        ClientFacts(c, activity.get(c), touchpoint.get(c), escalation.get(c), first_activity.get(c))
        for c in touched
    ]


@dataclass(frozen=True)
class TicketMoment:
    client_id: uuid.UUID
    ticket_id: str
    last_opened_at: datetime | None
    last_resolved_at: datetime | None


def ticket_moments(events: list[AcceptedEvent]) -> list[TicketMoment]:
    opened: dict[tuple[uuid.UUID, str], datetime] = {}
    resolved: dict[tuple[uuid.UUID, str], datetime] = {}
    for e in events:
        ticket_id = e.properties.get("ticket_id")
        if not isinstance(ticket_id, str):
            continue
        key = (e.client_id, ticket_id)
        if e.type == "ticket_opened":
            opened[key] = max(opened.get(key, e.occurred_at), e.occurred_at)
        elif e.type == "ticket_resolved":
            resolved[key] = max(resolved.get(key, e.occurred_at), e.occurred_at)
    keys = sorted(set(opened) | set(resolved))
    return [TicketMoment(c, t, opened.get((c, t)), resolved.get((c, t))) for c, t in keys]


def is_open(last_opened_at: datetime | None, last_resolved_at: datetime | None) -> bool:
    """Open when opened and not resolved since its latest opening (tickets can reopen)."""
    return last_opened_at is not None and (
        last_resolved_at is None or last_opened_at > last_resolved_at
    )
