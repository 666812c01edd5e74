"""Writing follow-up work: outbox rows in the caller's transaction, never a direct enqueue.

A fact says what happened and reaches every job that consumes its kind; a job request asks
one job by name to run (a rescore after a scorecard change)."""

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.client_changes import watched_changes
from app.facts import ClientFieldChange, ClientsChanged, ClientsUpdated, Fact


async def emit(
    session: AsyncSession,
    facts: Iterable[Fact],
    *,
    workspace_id: uuid.UUID | None,
    now: datetime,
) -> int:
    """Writes each fact as one row; returns how many were written."""
    messages = [
        NewMessage(
            kind=fact.kind.value, payload=fact.model_dump(mode="json"), workspace_id=workspace_id
        )
        for fact in facts
    ]
    return await OutboxRepository(session).add(messages, now)


async def request_job(
    session: AsyncSession,
    job_name: str,
    *,
    workspace_id: uuid.UUID | None,
    now: datetime,
    dedupe_key: str | None = None,
) -> bool:
    """False when a row with the same dedupe key was already written."""
    message = NewMessage(
        kind=job_name, payload={}, workspace_id=workspace_id, dedupe_key=dedupe_key
    )
    return await OutboxRepository(session).add([message], now) == 1


Edit = tuple[uuid.UUID, Mapping[str, Any], Mapping[str, Any]]
"""An edit of a client: its id, its columns before (empty for a new client) and after."""


async def announce_changed_clients(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client_ids: set[uuid.UUID],
    now: datetime,
    *,
    edits: Iterable[Edit] = (),
    also: Sequence[Fact] = (),
) -> None:
    """Clients whose events, contracts or fields changed: their health is evaluated again. A
    big batch becomes several facts, so one evaluation stays short. `edits` also announce
    `client.updated` for the watched fields (stage, tier, owner, status) they changed; `also`:
    further facts of the same change. All in one statement."""
    ordered = sorted(client_ids, key=str)
    changes = [
        ClientFieldChange(client_id=client_id, name=name.value, before=old, after=new)
        for client_id, before, after in edits
        for name, old, new in watched_changes(before, after)
    ]
    facts = [*ClientsChanged.split(ordered), *ClientsUpdated.split(changes), *also]
    await emit(session, facts, workspace_id=workspace_id, now=now)
