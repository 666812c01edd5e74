"""Writing follow-up work: one outbox row in the caller's transaction, never a direct enqueue."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.jobs import OutboxKind


async def emit(
    session: AsyncSession,
    kind: OutboxKind,
    payload: dict[str, Any],
    *,
    workspace_id: uuid.UUID | None,
    now: datetime,
    dedupe_key: str | None = None,
) -> bool:
    """False when a row with the same dedupe key was already written."""
    message = NewMessage(
        kind=kind.value, payload=payload, workspace_id=workspace_id, dedupe_key=dedupe_key
    )
    return await OutboxRepository(session).add([message], now) == 1


CLIENTS_PER_MESSAGE = 1000
"""A big batch becomes several `clients.changed` rows, so one evaluation stays short."""


async def announce_changed_clients(
    session: AsyncSession, workspace_id: uuid.UUID, client_ids: set[uuid.UUID], now: datetime
) -> None:
    """Clients whose signals or facts changed: their health is evaluated again."""
    ordered = sorted(str(client_id) for client_id in client_ids)
    messages = [
        NewMessage(
            kind=OutboxKind.CLIENTS_CHANGED.value,
            payload={"client_ids": ordered[start : start + CLIENTS_PER_MESSAGE]},
            workspace_id=workspace_id,
        )
        for start in range(0, len(ordered), CLIENTS_PER_MESSAGE)
    ]
    await OutboxRepository(session).add(messages, now)
