"""Writing follow-up work: outbox rows in the caller's transaction, never a direct enqueue.

A fact says what happened and reaches every job that consumes its kind; a job request asks
one job by name to run (a rescore after a scorecard change)."""

import uuid
from collections.abc import Iterable
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.facts import ClientsChanged, Fact


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


async def announce_changed_clients(
    session: AsyncSession, workspace_id: uuid.UUID, client_ids: set[uuid.UUID], now: datetime
) -> None:
    """Clients whose events, contracts or fields changed: their health is evaluated again. A
    big batch becomes several facts, so one evaluation stays short."""
    ordered = sorted(client_ids, key=str)
    await emit(session, ClientsChanged.split(ordered), workspace_id=workspace_id, now=now)
