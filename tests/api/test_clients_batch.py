"""POST /v1/clients/batch: a bulk upsert by external id, status and churn date included."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage
from tests.databases import backend
from tests.factories import create_client, create_owner

Json = dict[str, Any]
NOW = datetime.now(UTC).replace(microsecond=0)


def days_ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


async def batch(api: httpx.AsyncClient, clients: list[Json], status: int = 200) -> Json:
    response = await api.post("/v1/clients/batch", json={"clients": clients})
    assert response.status_code == status, response.text
    data: Json = response.json()
    return data


async def by_external_id(api: httpx.AsyncClient) -> dict[str, Json]:
    response = await api.get("/v1/clients", params={"limit": 100})
    return {c["external_id"]: c for c in response.json()["data"]}


def statuses(result: Json) -> list[str]:
    return [r["status"] for r in result["results"]]


def locs(result: Json, index: int) -> list[list[Any]]:
    return [e["loc"] for e in result["results"][index]["problem"]["errors"]]


class TestUpsert:
    async def test_creates_updates_and_reports_unchanged_items(
        self, api: httpx.AsyncClient
    ) -> None:
        existing = await create_client(api, name="Old name", external_id="crm-2", tier="mid")
        first = await batch(
            api,
            [
                {"external_id": "crm-1", "name": "Globex", "tier": "enterprise"},
                {"external_id": "crm-2", "name": "Initech"},
                {"external_id": "crm-3", "name": "Hooli", "domain": "Hooli.example"},
            ],
        )
        assert statuses(first) == ["created", "updated", "created"]
        assert (first["created"], first["updated"], first["unchanged"], first["rejected"]) == (
            2,
            1,
            0,
            0,
        )
        assert first["results"][1]["id"] == existing["id"]
        assert [r["external_id"] for r in first["results"]] == ["crm-1", "crm-2", "crm-3"]
        stored = await by_external_id(api)
        assert (stored["crm-1"]["name"], stored["crm-1"]["tier"]) == ("Globex", "enterprise")
        assert (stored["crm-2"]["name"], stored["crm-2"]["tier"]) == ("Initech", "mid")
        assert stored["crm-3"]["domain"] == "hooli.example"
        assert stored["crm-1"]["lifecycle_stage"] == "onboarding"
        assert stored["crm-1"]["status"] == "active"
        again = await batch(
            api,
            [
                {"external_id": "crm-1", "name": "Globex", "tier": "enterprise"},
                {"external_id": "crm-2", "name": "Initech"},
            ],
        )
        assert statuses(again) == ["unchanged", "unchanged"]
        assert again["results"][0]["id"] == first["results"][0]["id"]

    async def test_an_update_moves_the_etag_and_an_unchanged_item_does_not(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, external_id="crm-9", name="Same")
        before = (await api.get(f"/v1/clients/{client['id']}")).headers["etag"]
        await batch(api, [{"external_id": "crm-9", "name": "Same"}])
        unchanged = (await api.get(f"/v1/clients/{client['id']}")).headers["etag"]
        await batch(api, [{"external_id": "crm-9", "name": "Renamed"}])
        after = await api.get(f"/v1/clients/{client['id']}")
        assert unchanged == before
        assert after.headers["etag"] != before
        assert after.json()["name"] == "Renamed"

    async def test_attributes_merge_key_by_key_as_put_does(self, api: httpx.AsyncClient) -> None:
        await create_client(api, external_id="crm-5", attributes={"plan": "scale", "seats": 10})
        await batch(api, [{"external_id": "crm-5", "attributes": {"seats": 12, "plan": None}}])
        assert (await by_external_id(api))["crm-5"]["attributes"] == {"seats": 12}

    async def test_records_stage_changes_like_the_single_path(self, api: httpx.AsyncClient) -> None:
        result = await batch(
            api,
            [{"external_id": "crm-1", "name": "Globex"}],
        )
        client_id = result["results"][0]["id"]
        await batch(api, [{"external_id": "crm-1", "lifecycle_stage": "adoption"}])
        await batch(api, [{"external_id": "crm-1", "lifecycle_stage": "adoption"}])
        history = (await api.get(f"/v1/clients/{client_id}/stage-history")).json()
        assert [(h["from_stage"], h["to_stage"]) for h in history] == [
            (None, "onboarding"),
            ("onboarding", "adoption"),
        ]

    async def test_announces_the_changed_clients_once_per_batch(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        await create_client(api, external_id="crm-2", name="Initech")
        async with app.state.sessionmaker() as session:
            await session.execute(sa.delete(OutboxMessage))
            await session.commit()
        result = await batch(
            api,
            [
                {"external_id": "crm-1", "name": "Globex"},
                {"external_id": "crm-2", "name": "Initech"},  # unchanged
                {"external_id": "crm-3", "name": "Hooli"},
            ],
        )
        async with app.state.sessionmaker() as session:
            rows = (
                await session.scalars(
                    sa.select(OutboxMessage).where(OutboxMessage.kind == "clients.changed")
                )
            ).all()
        announced = {tuple(row.payload["client_ids"]) for row in rows}
        expected = tuple(sorted([result["results"][0]["id"], result["results"][2]["id"]]))
        assert announced == {expected}


class TestChurn:
    async def test_a_churned_item_takes_its_date_and_reason(self, api: httpx.AsyncClient) -> None:
        result = await batch(
            api,
            [
                {
                    "external_id": "crm-1",
                    "name": "Globex",
                    "status": "churned",
                    "churned_at": days_ago(60),
                    "churn_reason": "budget cut",
                },
            ],
        )
        client = (await api.get(f"/v1/clients/{result['results'][0]['id']}")).json()
        assert (client["status"], client["churn_reason"]) == ("churned", "budget cut")
        assert client["churned_at"] == days_ago(60)
        # the churn is the oldest history known: the client was a client by then
        assert (client["acquired_at"], client["acquired_at_source"]) == (days_ago(60), "history")

    async def test_churning_again_moves_the_date_and_active_reactivates(
        self, api: httpx.AsyncClient
    ) -> None:
        churned = {"external_id": "crm-1", "name": "Globex", "status": "churned"}
        await batch(api, [{**churned, "churned_at": days_ago(10), "churn_reason": "price"}])
        moved = await batch(api, [{**churned, "churned_at": days_ago(20)}])
        assert statuses(moved) == ["updated"]
        client = (await by_external_id(api))["crm-1"]
        assert (client["churned_at"], client["churn_reason"]) == (days_ago(20), "price")
        await batch(api, [{"external_id": "crm-1", "status": "active"}])
        client = (await by_external_id(api))["crm-1"]
        assert (client["status"], client["churned_at"], client["churn_reason"]) == (
            "active",
            None,
            None,
        )

    async def test_a_churn_before_a_given_acquisition_is_rejected(
        self, api: httpx.AsyncClient
    ) -> None:
        result = await batch(
            api,
            [
                {
                    "external_id": "crm-1",
                    "name": "Globex",
                    "acquired_at": days_ago(30),
                    "status": "churned",
                    "churned_at": days_ago(40),
                },
                {"external_id": "crm-2", "name": "Initech"},
            ],
            status=207,
        )
        assert statuses(result) == ["rejected", "created"]
        assert locs(result, 0) == [["churned_at"]]
        assert result["results"][0]["problem"]["status"] == 422


class TestRejections:
    async def test_bad_items_are_rejected_in_bulk_and_good_ones_stored(
        self, api: httpx.AsyncClient
    ) -> None:
        owner = await create_owner(api)
        result = await batch(
            api,
            [
                {"external_id": "a", "name": "A", "tier": "platinum"},
                {"external_id": "b", "name": "B", "lifecycle_stage": "limbo"},
                {
                    "external_id": "c",
                    "name": "C",
                    "owner_id": "4b6a4e0c-3d5e-4c07-9a53-7d2f1c9e8a10",
                },
                {"external_id": "d"},
                {"external_id": "e", "name": "E", "status": "churned"},
                {
                    "external_id": "f",
                    "name": "F",
                    "status": "churned",
                    "churned_at": "2999-01-01T00:00:00Z",
                },
                {"external_id": "g", "name": "G", "churned_at": days_ago(1)},
                {"external_id": "h", "name": "H", "surprise": 1},
                {"name": "no key"},
                {"external_id": "i", "name": "I", "owner_id": owner["id"], "tier": "mid"},
            ],
            status=207,
        )
        assert statuses(result) == ["rejected"] * 9 + ["created"]
        assert [locs(result, i) for i in range(9)] == [
            [["tier"]],
            [["lifecycle_stage"]],
            [["owner_id"]],
            [["name"]],
            [["churned_at"]],
            [["churned_at"]],
            [["churned_at"]],
            [["surprise"]],
            [["external_id"]],
        ]
        assert result["results"][8]["external_id"] is None
        assert set(await by_external_id(api)) == {"i"}

    async def test_a_repeated_external_id_is_rejected_and_the_first_applies(
        self, api: httpx.AsyncClient
    ) -> None:
        result = await batch(
            api,
            [
                {"external_id": "crm-1", "name": "First"},
                {"external_id": "crm-2", "name": "Other"},
                {"external_id": "crm-1", "name": "Second"},
            ],
            status=207,
        )
        assert statuses(result) == ["created", "created", "rejected"]
        assert "item 0" in result["results"][2]["problem"]["detail"]
        assert (await by_external_id(api))["crm-1"]["name"] == "First"

    async def test_a_batch_with_no_storable_item_is_a_422_with_every_result(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post(
            "/v1/clients/batch", json={"clients": [{"external_id": "x"}, {"name": "y"}]}
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == "application/problem+json"
        assert [r["status"] for r in response.json()["results"]] == ["rejected", "rejected"]

    @pytest.mark.parametrize("count", [0, 5001])
    async def test_the_batch_size_is_capped(self, api: httpx.AsyncClient, count: int) -> None:
        clients = [{"external_id": f"c{i}", "name": "n"} for i in range(count)]
        response = await api.post("/v1/clients/batch", json={"clients": clients})
        assert response.status_code == (422 if count == 0 else 413), response.text

    async def test_a_write_scope_is_needed(self, app: FastAPI, api: httpx.AsyncClient) -> None:
        from tests.factories import Workspace, api_client, create_key, create_workspace

        workspace: Workspace = await create_workspace(app, "Reader")
        key = await create_key(app, workspace, ["read"])
        async with api_client(app, key) as reader:
            response = await reader.post(
                "/v1/clients/batch", json={"clients": [{"external_id": "a", "name": "A"}]}
            )
        assert response.status_code == 403, response.text


class TestAcquisition:
    async def test_a_given_date_stays_and_null_derives_it_from_history_again(
        self, api: httpx.AsyncClient
    ) -> None:
        await batch(api, [{"external_id": "crm-1", "name": "Globex", "acquired_at": days_ago(5)}])
        client = (await by_external_id(api))["crm-1"]
        assert (client["acquired_at"], client["acquired_at_source"]) == (days_ago(5), "given")
        event = {
            "client_external_id": "crm-1",
            "type": "login",
            "occurred_at": days_ago(300),
        }
        assert (await api.post("/v1/events", json={"events": [event]})).status_code == 200
        client = (await by_external_id(api))["crm-1"]
        assert client["acquired_at"] == days_ago(5)  # given: history does not move it
        await batch(api, [{"external_id": "crm-1", "acquired_at": None}])
        client = (await by_external_id(api))["crm-1"]
        assert (client["acquired_at"], client["acquired_at_source"]) == (days_ago(300), "history")


class TestConcurrentImports:
    pytestmark = pytest.mark.skipif(
        backend() != "postgresql",
        reason="SQLite serialises writers, so only PostgreSQL can race concurrent batches",
    )

    async def test_the_same_batch_sent_three_times_at_once_creates_each_client_once(
        self, api: httpx.AsyncClient
    ) -> None:
        clients = [
            {"external_id": f"crm-{i}", "name": f"Client {i}", "attributes": {"n": i}}
            for i in range(50)
        ]
        results = await asyncio.gather(*(batch(api, clients) for _ in range(3)))
        for index in range(len(clients)):
            outcomes = [r["results"][index] for r in results]
            assert sorted(o["status"] for o in outcomes) == ["created", "unchanged", "unchanged"]
            assert len({o["id"] for o in outcomes}) == 1
        stored = await by_external_id(api)
        assert len(stored) == 50
        assert stored["crm-7"]["attributes"] == {"n": 7}


class TestOddItems:
    @pytest.mark.parametrize(
        "raw",
        [
            {},
            {"external_id": 5, "name": "A"},
            {"external_id": " x", "name": "A"},
            {"external_id": "a", "name": "A", "status": "gone"},
            {"external_id": "a", "name": "A", "acquired_at": "yesterday"},
            {"external_id": "a", "name": "A", "attributes": [1]},
        ],
    )
    async def test_an_object_with_bad_fields_is_rejected_alone(
        self, api: httpx.AsyncClient, raw: Any
    ) -> None:
        result = await batch(api, [raw, {"external_id": "ok", "name": "Fine"}], status=207)
        assert statuses(result) == ["rejected", "created"]
        assert result["results"][0]["problem"]["status"] == 422
        assert result["results"][0]["id"] is None

    async def test_an_item_that_is_not_an_object_makes_the_request_invalid(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post(
            "/v1/clients/batch", json={"clients": [{"external_id": "a", "name": "A"}, 1]}
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["loc"] == ["body", "clients", 1]
        assert await by_external_id(api) == {}

    @pytest.mark.parametrize("external_id", ["\ud800", "a\x00b", "x" * 300])
    async def test_an_unstorable_external_id_is_not_echoed(
        self, api: httpx.AsyncClient, external_id: str
    ) -> None:
        items = [{"external_id": external_id, "name": 5}, {"external_id": "ok", "name": "A"}]
        response = await api.post(
            "/v1/clients/batch",
            content=json.dumps({"clients": items}),  # ASCII: a lone surrogate as \\ud800
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 207, response.text
        result = response.json()
        assert statuses(result) == ["rejected", "created"]
        assert result["results"][0]["external_id"] is None
