"""Scorecards: data validated on write, versioned on edit, one per client by precedence."""

from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage, Scorecard
from app.domain.scorecard_documents import to_document
from app.domain.scorecards import DEFAULT_SCORECARD
from tests.factories import Workspace, create_client
from tests.health_support import create_scorecard, default_scorecard, measure

PROBLEM = "application/problem+json"


def error_locs(response: httpx.Response) -> list[list[Any]]:
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    return [e["loc"] for e in response.json()["errors"]]


class TestDefaultScorecard:
    async def test_a_new_workspace_starts_with_the_b2b_scorecard(
        self, api: httpx.AsyncClient
    ) -> None:
        card = await default_scorecard(api)
        document = to_document(DEFAULT_SCORECARD)
        assert card["name"] == "B2B services"
        assert card["version"] == 1
        assert card["measures"] == document["measures"]
        assert card["bands"] == document["bands"]

    async def test_cannot_be_deleted(self, api: httpx.AsyncClient) -> None:
        card = await default_scorecard(api)
        response = await api.delete(f"/v1/scorecards/{card['id']}")
        assert response.status_code == 409, response.text

    async def test_a_second_all_clients_scorecard_conflicts(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/scorecards",
            json={"name": "Another", "measures": [measure("t", "attribute", attribute="tier")]},
        )
        assert response.status_code == 409, response.text


class TestCreate:
    async def test_stores_version_one_with_defaults(self, api: httpx.AsyncClient) -> None:
        card = await create_scorecard(api, name="Mid market", tiers=["mid"])
        assert card["version"] == 1
        assert card["tiers"] == ["mid"]
        assert card["min_delta"] == 1.0
        assert [b["name"] for b in card["bands"]] == ["healthy", "neutral", "at_risk"]
        assert (await api.get(f"/v1/scorecards/{card['id']}")).json() == card

    async def test_lists_every_problem_of_the_definition(self, api: httpx.AsyncClient) -> None:
        body = {
            "name": "Broken",
            "tiers": ["mid"],
            "measures": [
                measure("a", "count", events=["login"]),  # no window
                measure("a", "attribute", attribute="tier", weight=0),  # duplicate, no weight
            ],
            "bands": [{"name": "good", "minimum": 50}, {"name": "bad", "minimum": 60}],
        }
        locs = error_locs(await api.post("/v1/scorecards", json=body))
        assert locs == [
            ["body", "measures", 1, "key"],
            ["body", "measures", 1, "weight"],
            ["body", "bands", 1, "minimum"],
            ["body", "bands", 1, "minimum"],
            ["body", "measures", 0, "window_days"],
        ]

    async def test_a_category_is_named_in_the_message_not_the_location(
        self, api: httpx.AsyncClient
    ) -> None:
        """A category is the client's own text (brackets, dots): it must not be parsed as a
        path, and the location names the API's field."""
        scale = {"categories": {"gold[x].y": 120, "silver": 50}, "default": 30}
        body = {
            "name": "Plans",
            "tiers": ["mid"],
            "measures": [measure("plan", "attribute", attribute="plan", scale=scale)],
        }
        response = await api.post("/v1/scorecards", json=body)
        assert error_locs(response) == [["body", "measures", 0, "scale", "categories"]]
        assert "'gold[x].y'" in response.json()["errors"][0]["msg"]

    async def test_refuses_an_unknown_kind_as_a_field_error(self, api: httpx.AsyncClient) -> None:
        body = {"name": "X", "tiers": ["mid"], "measures": [measure("a", "vibes")]}
        assert ["body", "measures", 0, "kind"] in error_locs(
            await api.post("/v1/scorecards", json=body)
        )

    async def test_refuses_a_tier_the_workspace_does_not_have(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/scorecards",
            json={
                "name": "X",
                "tiers": ["gold"],
                "measures": [measure("a", "attribute", attribute="tier")],
            },
        )
        assert error_locs(response) == [["body", "tiers"]]

    async def test_a_tier_belongs_to_one_scorecard(self, api: httpx.AsyncClient) -> None:
        await create_scorecard(api, tiers=["mid"])
        response = await api.post(
            "/v1/scorecards",
            json={
                "name": "X",
                "tiers": ["mid", "smb"],
                "measures": [measure("a", "attribute", attribute="tier")],
            },
        )
        assert response.status_code == 409, response.text
        assert "mid" in response.json()["detail"]


class TestEdit:
    async def test_makes_a_new_version_and_keeps_the_old(self, api: httpx.AsyncClient) -> None:
        card = await create_scorecard(api, tiers=["mid"])
        url = f"/v1/scorecards/{card['id']}"
        response = await api.patch(url, json={"min_delta": 3, "name": "Renamed"})
        assert response.status_code == 200, response.text
        assert response.json()["version"] == 2
        assert response.json()["min_delta"] == 3
        versions = (await api.get(f"{url}/versions")).json()
        assert [(v["version"], v["min_delta"]) for v in versions] == [(2, 3.0), (1, 1.0)]

    async def test_queues_a_rescore_of_the_workspace(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        card = await create_scorecard(api, tiers=["mid"])
        await api.patch(f"/v1/scorecards/{card['id']}", json={"min_delta": 3})
        async with app.state.sessionmaker() as session:
            rows = (
                await session.scalars(
                    sa.select(OutboxMessage).where(OutboxMessage.kind == "health.rescore_portfolio")
                )
            ).all()
        assert [r.workspace_id for r in rows] == [workspace.id, workspace.id]

    async def test_an_invalid_edit_changes_nothing(self, api: httpx.AsyncClient) -> None:
        card = await create_scorecard(api, tiers=["mid"])
        url = f"/v1/scorecards/{card['id']}"
        response = await api.patch(url, json={"bands": [{"name": "only", "minimum": 10}]})
        assert error_locs(response) == [["body", "bands", 0, "minimum"]]
        assert (await api.get(url)).json() == card

    async def test_a_stale_etag_is_refused(self, api: httpx.AsyncClient) -> None:
        card = await create_scorecard(api, tiers=["mid"])
        url = f"/v1/scorecards/{card['id']}"
        etag = (await api.get(url)).headers["etag"]
        assert (await api.patch(url, json={"min_delta": 2})).status_code == 200
        response = await api.patch(url, json={"min_delta": 4}, headers={"If-Match": etag})
        assert response.status_code == 412, response.text

    async def test_cannot_turn_a_tier_scorecard_into_an_all_clients_one(
        self, api: httpx.AsyncClient
    ) -> None:
        card = await create_scorecard(api, tiers=["mid"])
        response = await api.patch(f"/v1/scorecards/{card['id']}", json={"tiers": []})
        assert response.status_code == 409, response.text


class TestDelete:
    async def test_archives_a_tier_scorecard(self, api: httpx.AsyncClient) -> None:
        card = await create_scorecard(api, tiers=["mid"])
        url = f"/v1/scorecards/{card['id']}"
        assert (await api.delete(url)).status_code == 204
        assert (await api.get(url)).status_code == 404
        ids = [c["id"] for c in (await api.get("/v1/scorecards")).json()["data"]]
        assert card["id"] not in ids


class TestPrecedence:
    async def test_the_tier_scorecard_scores_its_tier_and_the_default_the_rest(
        self, api: httpx.AsyncClient
    ) -> None:
        tiered = await create_scorecard(api, tiers=["mid"])
        default = await default_scorecard(api)
        mid = await create_client(api, tier="mid")
        smb = await create_client(api, tier="smb")
        untiered = await create_client(api)
        for client, card in ((mid, tiered), (smb, default), (untiered, default)):
            health = (await api.get(f"/v1/clients/{client['id']}/health")).json()
            assert health["scorecard"] == {"id": card["id"], "version": card["version"]}


class TestReadsWriteNothing:
    """The default scorecard is made with the workspace (and by migration 0006 for older
    ones); a read never creates it."""

    async def test_reads_of_a_workspace_without_scorecards_create_none(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        async with app.state.sessionmaker.begin() as session:
            await session.execute(
                sa.delete(Scorecard).where(Scorecard.workspace_id == workspace.id)
            )
        assert (await api.get("/v1/scorecards")).json()["data"] == []
        health = await api.get(f"/v1/clients/{client['id']}/health")
        assert health.status_code == 404, health.text
        assert (await api.get("/v1/health")).status_code == 200
        async with app.state.sessionmaker() as session:
            count = sa.select(sa.func.count()).select_from(Scorecard)
            assert await session.scalar(count) == 0
