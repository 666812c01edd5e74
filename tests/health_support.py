"""Helpers for health tests: scorecards through the API, events and evaluations at set times."""

import uuid
from datetime import datetime
from typing import Any

import httpx
from fastapi import FastAPI

from app.domain.api_keys import Principal, Scope
from app.services import events as event_service
from app.services import health
from app.services.events import EventInput, ItemProblem, ItemStatus
from app.services.health import Evaluation

IDENTITY = {"breakpoints": [[0, 0], [100, 100]]}


def measure(key: str, kind: str, **fields: Any) -> dict[str, Any]:
    return {"key": key, "kind": kind, "weight": 1, "scale": IDENTITY, **fields}


async def create_scorecard(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    body = {
        "name": f"Scorecard {uuid.uuid4().hex[:8]}",
        "tiers": ["mid"],
        "measures": [measure("logins", "count", events=["login"], window_days=30)],
        **overrides,
    }
    response = await api.post("/v1/scorecards", json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def default_scorecard(api: httpx.AsyncClient) -> dict[str, Any]:
    response = await api.get("/v1/scorecards")
    assert response.status_code == 200, response.text
    (card,) = [c for c in response.json()["data"] if c["tiers"] == []]
    data: dict[str, Any] = card
    return data


def event(
    client_id: str | uuid.UUID,
    type: str,
    occurred_at: datetime,
    value: float | None = None,
    **properties: Any,
) -> EventInput:
    return EventInput(
        client_id=uuid.UUID(str(client_id)),
        client_external_id=None,
        type=type,
        occurred_at=occurred_at,
        value=value,
        properties=properties,
        contact_id=None,
        contact_email=None,
        source="test",
        external_id=None,
    )


async def ingest(
    app: FastAPI, workspace_id: uuid.UUID, events: list[EventInput], received_at: datetime
) -> None:
    """Through the ingestion service, recorded at `received_at` (so as-of reads can be tested)."""
    principal = Principal(workspace_id=workspace_id, api_key_id=uuid.uuid4(), scopes=(Scope.ADMIN,))
    items: list[EventInput | ItemProblem] = [*events]
    async with app.state.sessionmaker.begin() as session:
        results = await event_service.ingest(
            session, principal, items, upsert_clients=False, now=received_at
        )
    assert all(r.status is ItemStatus.CREATED for r in results), results


async def evaluate(
    app: FastAPI, workspace_id: uuid.UUID, client_ids: list[str], now: datetime
) -> Evaluation:
    async with app.state.sessionmaker() as session:
        result = await health.evaluate_clients(
            session, workspace_id, [uuid.UUID(c) for c in client_ids], now
        )
        await session.commit()
    return result
