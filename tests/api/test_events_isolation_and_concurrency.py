"""Workspace isolation, key scopes, and one batch retried concurrently."""

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from tests.api.events_support import (
    PROBLEM,
    Json,
    all_events,
    clients_by_external_id,
    event,
    fetch_client,
    ingest_one,
    locs,
    send,
    statuses,
    ticket,
    timeline,
)
from tests.api.events_support import fixture_acme as fixture_acme
from tests.api.events_support import fixture_globex as fixture_globex
from tests.databases import backend
from tests.factories import (
    Workspace,
    auth,
    create_client,
    create_contact,
    create_key,
    create_workspace,
)


class TestIsolation:
    @pytest.fixture
    async def other(self, app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
        """A client authenticated with a second workspace's admin key."""
        workspace = await create_workspace(app, "Other CS")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://tenure.test",
            headers=auth(workspace.admin_key),
        ) as client:
            yield client

    async def test_cannot_attach_an_event_to_another_workspaces_client(
        self, api: httpx.AsyncClient, other: httpx.AsyncClient, acme: Json
    ) -> None:
        response = await other.post("/v1/events", json={"events": [event(acme)]})
        assert response.status_code == 422
        assert locs(response.json()["results"][0]) == [["client_id"]]
        assert await timeline(api, acme) == []

    async def test_another_workspaces_external_id_is_unknown(
        self, api: httpx.AsyncClient, other: httpx.AsyncClient, acme: Json
    ) -> None:
        response = await other.post("/v1/events", json={"events": [event("crm-acme")]})
        assert response.status_code == 422
        assert locs(response.json()["results"][0]) == [["client_external_id"]]

    async def test_upserting_another_workspaces_external_id_makes_an_own_client(
        self, api: httpx.AsyncClient, other: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(other, [event("crm-acme")], upsert_clients=True)
        assert statuses(batch) == ["created"]
        assert await timeline(api, acme) == []
        theirs = (await clients_by_external_id(other))["crm-acme"]
        assert theirs["id"] != acme["id"]
        assert [e["id"] for e in await timeline(other, theirs)] == [batch["results"][0]["id"]]
        assert list(await clients_by_external_id(api)) == ["crm-acme"]

    async def test_cannot_name_another_workspaces_contact(
        self, api: httpx.AsyncClient, other: httpx.AsyncClient, acme: Json
    ) -> None:
        contact = await create_contact(api, acme["id"])
        mine = await create_client(other, name="Initech")
        result = await ingest_one(other, event(mine, contact_id=contact["id"]))
        assert locs(result) == [["contact_id"]]

    async def test_cannot_read_another_workspaces_timeline(
        self, api: httpx.AsyncClient, other: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme)])
        response = await other.get(f"/v1/clients/{acme['id']}/events")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM

    async def test_cannot_list_another_workspaces_events(
        self, api: httpx.AsyncClient, other: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, source="zendesk", external_id="z-1")])
        assert await all_events(other) == []
        assert await all_events(other, ("source", "zendesk")) == []
        response = await other.get("/v1/events", params={"client_id": acme["id"]})
        assert response.status_code == 404

    async def test_dedupe_keys_are_per_workspace(
        self, api: httpx.AsyncClient, other: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, external_id="evt-1")])
        mine = await create_client(other, name="Initech")
        batch = await send(other, [event(mine, external_id="evt-1")])
        assert statuses(batch) == ["created"]
        assert len(await timeline(other, mine)) == 1


class TestScopes:
    async def test_a_read_only_key_cannot_ingest(
        self, app: FastAPI, workspace: Workspace, http: httpx.AsyncClient, acme: Json
    ) -> None:
        key = await create_key(app, workspace, ["read"])
        response = await http.post("/v1/events", json={"events": [event(acme)]}, headers=auth(key))
        assert response.status_code == 403

    async def test_a_write_only_key_can_ingest_but_not_read(
        self, app: FastAPI, workspace: Workspace, http: httpx.AsyncClient, acme: Json
    ) -> None:
        key = await create_key(app, workspace, ["write"])
        await send(http, [event(acme)], headers=auth(key))
        for path in ("/v1/events", f"/v1/clients/{acme['id']}/events", "/v1/event-types"):
            assert (await http.get(path, headers=auth(key))).status_code == 403, path


class TestConcurrentRetries:
    """Concurrent requests on one event loop, each on its own pooled database connection."""

    pytestmark = pytest.mark.skipif(
        backend() != "postgresql",
        reason="SQLite serialises writers, so only PostgreSQL can race concurrent batches",
    )

    async def test_the_same_batch_sent_five_times_at_once_stores_each_event_once(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        items = [
            event(acme if i % 2 else globex, hours=i, external_id=f"retry-{i}") for i in range(40)
        ] + [ticket(acme, "ticket_opened", "t1", 50, external_id="retry-t1")]
        batches = await asyncio.gather(*(send(api, items) for _ in range(5)))
        stored = await all_events(api)
        assert len(stored) == len(items)
        assert sorted(e["external_id"] for e in stored) == sorted(i["external_id"] for i in items)
        for index in range(len(items)):
            outcomes = [b["results"][index] for b in batches]
            assert sorted(o["status"] for o in outcomes) == ["created"] + ["duplicate"] * 4
            assert len({o["id"] for o in outcomes}) == 1
        assert sum(b["created"] for b in batches) == len(items)
        assert (await fetch_client(api, acme))["open_tickets"] == 1

    async def test_the_same_upserting_batch_sent_five_times_at_once_creates_each_client_once(
        self, api: httpx.AsyncClient
    ) -> None:
        items = [event(f"new-{i % 7}", hours=i, external_id=f"up-{i}") for i in range(30)]
        batches = await asyncio.gather(*(send(api, items, upsert_clients=True) for _ in range(5)))
        clients = await clients_by_external_id(api)
        assert sorted(clients) == sorted({f"new-{i}" for i in range(7)})
        assert len(await all_events(api)) == len(items)
        assert sum(b["created"] for b in batches) == len(items)
