"""Shared by the test_events_* modules, which import each fixture `as` itself for pytest to see."""

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.factories import create_client

PROBLEM = "application/problem+json"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

Event = dict[str, Any]
Json = dict[str, Any]
Param = tuple[str, str | int | float | bool | None]


def at(hours: float) -> str:
    """A moment `hours` after T0, which lies safely in the past."""
    return (T0 + timedelta(hours=hours)).isoformat()


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def event(client: Json | str, type: str = "login", *, hours: float = 0, **fields: Any) -> Event:
    """An event for a client (its JSON, or a client_external_id), at T0 + hours."""
    ref = {"client_external_id": client} if isinstance(client, str) else {"client_id": client["id"]}
    return {**ref, "type": type, "occurred_at": at(hours), **fields}


def ticket(client: Json, type: str, ticket_id: str, hours: float, **fields: Any) -> Event:
    return event(client, type, hours=hours, properties={"ticket_id": ticket_id}, **fields)


async def send(
    api: httpx.AsyncClient,
    events: list[Event],
    *,
    upsert_clients: bool | None = None,
    status: int = 200,
    headers: dict[str, str] | None = None,
) -> Json:
    body: Json = {"events": events}
    if upsert_clients is not None:
        body["upsert_clients"] = upsert_clients
    response = await api.post("/v1/events", json=body, headers=headers)
    assert response.status_code == status, response.text
    data: Json = response.json()
    return data


async def ingest_one(api: httpx.AsyncClient, item: Event) -> Json:
    """Sends one event and returns its result; 200 when created, 422 when rejected."""
    response = await api.post("/v1/events", json={"events": [item]})
    assert response.status_code in (200, 422), response.text
    result: Json = response.json()["results"][0]
    return result


def statuses(batch: Json) -> list[str]:
    return [r["status"] for r in batch["results"]]


def locs(result: Json) -> list[list[str | int]]:
    assert result["status"] == "rejected", result
    return [e["loc"] for e in result["problem"]["errors"]]


async def walk(
    api: httpx.AsyncClient,
    path: str,
    *,
    limit: int = 100,
    params: Sequence[Param] = (),
    cursor: str | None = None,
) -> list[Json]:
    """Every page in turn from `cursor` (the first page by default); each page is checked."""
    seen: list[Json] = []
    while True:
        query: list[Param] = [*params, ("limit", limit), *([("cursor", cursor)] if cursor else [])]
        response = await api.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        assert len(page["data"]) <= limit
        assert page["has_more"] == (page["next_cursor"] is not None)
        seen += page["data"]
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


async def timeline(api: httpx.AsyncClient, client: Json, *params: tuple[str, str]) -> list[Json]:
    return await walk(api, f"/v1/clients/{client['id']}/events", params=list(params))


async def all_events(api: httpx.AsyncClient, *params: tuple[str, str]) -> list[Json]:
    return await walk(api, "/v1/events", params=list(params))


async def fetch_client(api: httpx.AsyncClient, client: Json) -> Json:
    response = await api.get(f"/v1/clients/{client['id']}")
    assert response.status_code == 200, response.text
    data: Json = response.json()
    return data


async def clients_by_external_id(api: httpx.AsyncClient) -> dict[str, Json]:
    found = await walk(api, "/v1/clients")
    return {c["external_id"]: c for c in found if c["external_id"] is not None}


@pytest.fixture(name="acme")
async def fixture_acme(api: httpx.AsyncClient) -> Json:
    return await create_client(api, name="Acme", external_id="crm-acme", acquired_at=at(-1000))


@pytest.fixture(name="globex")
async def fixture_globex(api: httpx.AsyncClient) -> Json:
    return await create_client(api, name="Globex", external_id="crm-globex")
