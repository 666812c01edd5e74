"""Helpers for the signal tests: events at days before a fixed moment, evaluation, rows."""

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage, Signal
from app.domain.signals import ScoreTrend
from app.services.signals import evaluate_signals

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
"""The evaluation moment of most tests, safely in the past so events may precede it."""

FALL = ScoreTrend(score=50.0, band="neutral", drop_in_window=20.0, band_worsened=True)
STEADY = ScoreTrend(score=80.0, band="healthy", drop_in_window=0.0, band_worsened=False)


def days_before(days: float, moment: datetime = T) -> str:
    return (moment - timedelta(days=days)).isoformat()


def event(client_id: str, type: str, days: float, **fields: Any) -> dict[str, Any]:
    return {"client_id": client_id, "type": type, "occurred_at": days_before(days), **fields}


async def ingest(api: httpx.AsyncClient, events: list[dict[str, Any]]) -> None:
    for start in range(0, len(events), 1000):
        response = await api.post("/v1/events", json={"events": events[start : start + 1000]})
        assert response.status_code == 200, response.text


async def evaluate(
    app: FastAPI,
    workspace_id: uuid.UUID,
    client_ids: Sequence[str | uuid.UUID],
    now: datetime = T,
    trends: Mapping[str, ScoreTrend] | None = None,
) -> None:
    """Runs the evaluation in its own transaction and commits, as a job would."""
    async with app.state.sessionmaker() as session:
        await evaluate_signals(
            session,
            workspace_id,
            [uuid.UUID(str(c)) for c in client_ids],
            now,
            {uuid.UUID(k): v for k, v in (trends or {}).items()},
        )
        await session.commit()


async def stored_signals(app: FastAPI, client_id: str | None = None) -> list[Signal]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(Signal).order_by(Signal.opened_at, Signal.kind, Signal.id)
        if client_id is not None:
            stmt = stmt.where(Signal.client_id == uuid.UUID(client_id))
        return list((await session.scalars(stmt)).all())


async def outbox(app: FastAPI, kind: str) -> list[OutboxMessage]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(OutboxMessage).where(OutboxMessage.kind == kind)
        return list((await session.scalars(stmt.order_by(OutboxMessage.created_at))).all())


async def open_score_drop(app: FastAPI, workspace_id: uuid.UUID, client_id: str) -> str:
    """Opens a score_drop signal for the client and returns its id."""
    await evaluate(app, workspace_id, [client_id], trends={client_id: FALL})
    (signal,) = [s for s in await stored_signals(app, client_id) if s.kind == "score_drop"]
    return str(signal.id)
