"""A new client's watched fields change from nothing: creation announces `client.updated`, so
its tier cadence and `client.changed` triggers take it within seconds, not at the next tick."""

from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage


async def _changes(app: FastAPI) -> set[tuple[str, str, str | None, str | None]]:
    async with app.state.sessionmaker() as session:
        payloads = await session.scalars(
            sa.select(OutboxMessage.payload).where(OutboxMessage.kind == "client.updated")
        )
        return {
            (c["client_id"], c["name"], c["before"], c["after"])
            for payload in payloads
            for c in payload["changes"]
        }


def _of(changes: set[Any], client_id: str) -> dict[str, tuple[str | None, str | None]]:
    return {name: (before, after) for cid, name, before, after in changes if cid == client_id}


class TestCreationAnnouncesWatchedFields:
    async def test_post(self, app: FastAPI, api: httpx.AsyncClient) -> None:
        created = await api.post("/v1/clients", json={"name": "Initech", "tier": "mid"})
        assert created.status_code == 201, created.text
        fields = _of(await _changes(app), created.json()["id"])
        assert fields["tier"] == (None, "mid")
        assert fields["status"] == (None, "active")
        assert fields["stage"][0] is None

    async def test_put_by_external_id_creates_then_edits(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        created = await api.put("/v1/clients/by-external-id/crm-7", json={"name": "Hooli"})
        assert created.status_code == 201, created.text
        client_id = created.json()["id"]
        assert "tier" not in _of(await _changes(app), client_id)
        edited = await api.put("/v1/clients/by-external-id/crm-7", json={"tier": "smb"})
        assert edited.status_code == 200, edited.text
        assert _of(await _changes(app), client_id)["tier"] == (None, "smb")

    async def test_batch_announces_created_and_changed_clients(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        first = await api.post(
            "/v1/clients/batch",
            json={"clients": [{"external_id": "a", "name": "A", "tier": "mid"}]},
        )
        assert first.status_code == 200, first.text
        second = await api.post(
            "/v1/clients/batch",
            json={
                "clients": [
                    {"external_id": "a", "name": "A", "tier": "enterprise"},
                    {"external_id": "b", "name": "B", "tier": "smb"},
                ]
            },
        )
        assert second.status_code == 200, second.text
        ids = {r["external_id"]: r["id"] for r in second.json()["results"]}
        changes = await _changes(app)
        assert {(before, after) for cid, name, before, after in changes if cid == ids["a"]} >= {
            (None, "mid"),
            ("mid", "enterprise"),
        }
        assert _of(changes, ids["b"])["tier"] == (None, "smb")
