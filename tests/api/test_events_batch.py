"""Batches: partial success, replay by key, size caps, upsert_clients and contacts."""

import uuid
from datetime import timedelta

import httpx

from tests.api.events_support import (
    PROBLEM,
    T0,
    Json,
    all_events,
    clients_by_external_id,
    event,
    ingest_one,
    locs,
    parse_time,
    send,
    statuses,
    timeline,
)
from tests.api.events_support import fixture_acme as fixture_acme
from tests.api.events_support import fixture_globex as fixture_globex
from tests.factories import create_contact

MAX_BATCH = 5000


class TestPartialSuccess:
    async def test_valid_items_are_stored_when_others_are_rejected_with_207(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        response = await api.post(
            "/v1/events",
            json={
                "events": [
                    event(acme, hours=1),
                    event(acme, "nps", value=11),
                    event(acme, "order", hours=2, value=5),
                    {"type": "login"},
                ]
            },
        )
        assert response.status_code == 207, response.text
        assert response.headers["content-type"] == "application/json"
        batch = response.json()
        assert statuses(batch) == ["created", "rejected", "created", "rejected"]
        assert [r["index"] for r in batch["results"]] == [0, 1, 2, 3]
        assert (batch["created"], batch["duplicates"], batch["rejected"]) == (2, 0, 2)
        stored = {e["id"] for e in await timeline(api, acme)}
        assert stored == {batch["results"][0]["id"], batch["results"][2]["id"]}

    async def test_a_rejected_item_carries_a_problem_and_no_id(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(api, [event(acme), event(acme, "nps", value=11)], status=207)
        rejected = batch["results"][1]
        assert rejected["id"] is None
        problem = rejected["problem"]
        assert problem["type"] == "urn:tenure:problem:validation-error"
        assert problem["status"] == 422
        assert "value" in problem["detail"]
        assert problem["errors"][0]["loc"] == ["value"]
        assert batch["results"][0]["problem"] is None

    async def test_a_duplicate_and_a_rejected_item_is_207(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, external_id="once")])
        batch = await send(api, [event(acme, external_id="once"), event(acme, "nps")], status=207)
        assert statuses(batch) == ["duplicate", "rejected"]

    async def test_an_all_rejected_batch_is_422_with_every_result(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        response = await api.post(
            "/v1/events",
            json={
                "events": [
                    event(acme, "nps", value=11),
                    event(acme, "signup"),
                    event({"id": str(uuid.uuid4())}),
                ]
            },
        )
        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        problem = response.json()
        assert problem["type"] == "urn:tenure:problem:validation-error"
        assert problem["status"] == 422
        assert problem["instance"] == "/v1/events"
        results = problem["results"]
        assert [r["index"] for r in results] == [0, 1, 2]
        assert [r["status"] for r in results] == ["rejected"] * 3
        assert locs(results[0]) == [["value"]]
        assert locs(results[1]) == [["type"]]
        assert locs(results[2]) == [["client_id"]]
        assert await timeline(api, acme) == []

    async def test_an_empty_batch_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/events", json={"events": []})
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM

    async def test_a_batch_that_is_not_a_list_of_objects_is_422(
        self, api: httpx.AsyncClient
    ) -> None:
        for body in ({"events": "login"}, {"events": [1, 2]}, {}):
            response = await api.post("/v1/events", json=body)
            assert response.status_code == 422, body
            assert response.headers["content-type"] == PROBLEM

    async def test_malformed_json_is_400(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/events", content=b'{"events": [', headers={"content-type": "application/json"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM


class TestIdempotencyKey:
    async def test_a_replayed_partial_success_answers_the_same_without_storing_again(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        headers = {"Idempotency-Key": "sync-2026-03-02"}
        items = [event(acme), event(acme, "nps", value=11)]
        first = await api.post("/v1/events", json={"events": items}, headers=headers)
        again = await api.post("/v1/events", json={"events": items}, headers=headers)
        assert (first.status_code, again.status_code) == (207, 207)
        assert again.headers["idempotent-replayed"] == "true"
        assert again.json() == first.json()
        assert len(await timeline(api, acme)) == 1


class TestBatchSize:
    async def test_more_than_5000_events_is_413_and_stores_nothing(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        items = [event(acme, hours=i / 60) for i in range(MAX_BATCH + 1)]
        response = await api.post("/v1/events", json={"events": items})
        assert response.status_code == 413, response.text[:500]
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["status"] == 413
        assert await timeline(api, acme) == []

    async def test_exactly_5000_events_are_all_stored(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        items = [
            event(acme if i % 2 else globex, hours=i / 60, external_id=f"bulk-{i}")
            for i in range(MAX_BATCH)
        ]
        batch = await send(api, items)
        assert batch["created"] == MAX_BATCH
        assert [r["index"] for r in batch["results"]] == list(range(MAX_BATCH))
        ids = {r["id"] for r in batch["results"]}
        assert len(ids) == MAX_BATCH
        stored = await all_events(api)
        assert {e["id"] for e in stored} == ids
        assert len(stored) == MAX_BATCH

    async def test_a_full_batch_sent_again_is_all_duplicates(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        items = [event(acme, hours=i / 60, external_id=f"bulk-{i}") for i in range(MAX_BATCH)]
        first = await send(api, items)
        again = await send(api, items)
        assert again["duplicates"] == MAX_BATCH
        assert [r["id"] for r in again["results"]] == [r["id"] for r in first["results"]]

    async def test_a_full_batch_for_5000_new_clients_creates_each_once(
        self, api: httpx.AsyncClient
    ) -> None:
        items = [event(f"new-{i}", hours=i / 60) for i in range(MAX_BATCH)]
        batch = await send(api, items, upsert_clients=True)
        assert batch["created"] == MAX_BATCH
        clients = await clients_by_external_id(api)
        assert len(clients) == MAX_BATCH
        assert parse_time(clients["new-4999"]["last_activity_at"]) == T0 + timedelta(
            hours=4999 / 60
        )


class TestUpsertClients:
    async def test_without_it_an_unknown_external_id_is_rejected(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post("/v1/events", json={"events": [event("crm-new")]})
        assert response.status_code == 422
        assert locs(response.json()["results"][0]) == [["client_external_id"]]
        assert await clients_by_external_id(api) == {}

    async def test_off_is_the_same_as_leaving_it_out(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/events", json={"events": [event("crm-new")], "upsert_clients": False}
        )
        assert response.status_code == 422
        assert await clients_by_external_id(api) == {}

    async def test_with_it_an_unknown_external_id_creates_a_minimal_client(
        self, api: httpx.AsyncClient
    ) -> None:
        batch = await send(api, [event("crm-new", hours=2)], upsert_clients=True)
        assert statuses(batch) == ["created"]
        client = (await clients_by_external_id(api))["crm-new"]
        assert client["name"] == "crm-new"
        assert client["lifecycle_stage"] == "onboarding"
        assert client["status"] == "active"
        assert [e["id"] for e in await timeline(api, client)] == [batch["results"][0]["id"]]
        assert parse_time(client["last_activity_at"]) == T0 + timedelta(hours=2)

    async def test_the_new_client_starts_in_the_workspaces_first_stage(
        self, api: httpx.AsyncClient
    ) -> None:
        await api.patch("/v1/workspace", json={"lifecycle_stages": ["trial", "paying"]})
        await send(api, [event("crm-new")], upsert_clients=True)
        client = (await clients_by_external_id(api))["crm-new"]
        assert client["lifecycle_stage"] == "trial"
        history = await api.get(f"/v1/clients/{client['id']}/stage-history")
        assert history.status_code == 200, history.text
        assert [h["to_stage"] for h in history.json()] == ["trial"]

    async def test_one_new_external_id_in_many_items_creates_one_client(
        self, api: httpx.AsyncClient
    ) -> None:
        batch = await send(api, [event("crm-new", hours=h) for h in range(3)], upsert_clients=True)
        assert batch["created"] == 3
        clients = await clients_by_external_id(api)
        assert list(clients) == ["crm-new"]
        assert len(await timeline(api, clients["crm-new"])) == 3

    async def test_a_known_external_id_uses_the_existing_client(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event("crm-acme")], upsert_clients=True)
        assert list(await clients_by_external_id(api)) == ["crm-acme"]
        assert len(await timeline(api, acme)) == 1

    async def test_a_later_batch_finds_the_client_it_created(self, api: httpx.AsyncClient) -> None:
        await send(api, [event("crm-new")], upsert_clients=True)
        batch = await send(api, [event("crm-new", hours=1)])
        assert statuses(batch) == ["created"]
        assert len(await clients_by_external_id(api)) == 1

    async def test_an_item_rejected_for_its_own_fields_creates_no_client(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.post(
            "/v1/events",
            json={"events": [event("crm-new", "nps", value=42)], "upsert_clients": True},
        )
        assert response.status_code == 422
        assert await clients_by_external_id(api) == {}

    async def test_an_item_naming_a_contact_creates_no_client_and_blames_the_contact(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        """A contact cannot belong to a client that does not exist yet."""
        contact = await create_contact(api, acme["id"])
        response = await api.post(
            "/v1/events",
            json={"events": [event("crm-new", contact_id=contact["id"])], "upsert_clients": True},
        )
        assert response.status_code == 422
        assert locs(response.json()["results"][0]) == [["contact_id"]]
        assert list(await clients_by_external_id(api)) == ["crm-acme"]

    async def test_a_rejected_and_a_valid_item_for_one_new_client_create_it_once(
        self, api: httpx.AsyncClient
    ) -> None:
        batch = await send(
            api,
            [event("crm-new", "nps"), event("crm-new", "nps", value=9)],
            upsert_clients=True,
            status=207,
        )
        assert statuses(batch) == ["rejected", "created"]
        assert locs(batch["results"][0]) == [["value"]]
        assert list(await clients_by_external_id(api)) == ["crm-new"]

    async def test_an_unknown_client_id_is_still_rejected(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/events",
            json={"events": [event({"id": str(uuid.uuid4())})], "upsert_clients": True},
        )
        assert response.status_code == 422
        assert locs(response.json()["results"][0]) == [["client_id"]]

    async def test_it_must_be_a_boolean(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/events", json={"events": [event("crm-new")], "upsert_clients": "yes"}
        )
        assert response.status_code == 422
        assert [e["loc"] for e in response.json()["errors"]] == [["body", "upsert_clients"]]


class TestContacts:
    async def test_a_contact_of_the_client_is_kept(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        contact = await create_contact(api, acme["id"])
        await send(api, [event(acme, contact_id=contact["id"])])
        (stored,) = await timeline(api, acme)
        assert stored["contact_id"] == contact["id"]

    async def test_a_contact_of_another_client_is_rejected(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        contact = await create_contact(api, globex["id"])
        result = await ingest_one(api, event(acme, contact_id=contact["id"]))
        assert locs(result) == [["contact_id"]]
        assert await timeline(api, acme) == []

    async def test_an_unknown_contact_id_is_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        result = await ingest_one(api, event(acme, contact_id=str(uuid.uuid4())))
        assert locs(result) == [["contact_id"]]

    async def test_a_contact_email_is_matched_case_insensitively(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        contact = await create_contact(api, acme["id"], email="Hank.Scorpio@Acme.example")
        await send(api, [event(acme, contact_email="HANK.scorpio@acme.EXAMPLE")])
        (stored,) = await timeline(api, acme)
        assert stored["contact_id"] == contact["id"]

    async def test_an_unknown_contact_email_is_kept_as_no_contact(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await create_contact(api, acme["id"], email="hank@acme.example")
        batch = await send(api, [event(acme, contact_email="nobody@acme.example")])
        assert statuses(batch) == ["created"]
        (stored,) = await timeline(api, acme)
        assert stored["contact_id"] is None

    async def test_the_email_of_another_clients_contact_is_kept_as_no_contact(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await create_contact(api, globex["id"], email="hank@globex.example")
        await send(api, [event(acme, contact_email="hank@globex.example")])
        (stored,) = await timeline(api, acme)
        assert stored["contact_id"] is None

    async def test_each_item_matches_the_contact_of_its_own_client(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        at_acme = await create_contact(api, acme["id"], email="pat@shared.example")
        at_globex = await create_contact(api, globex["id"], email="pat@shared.example")
        await send(
            api,
            [
                event(acme, contact_email="pat@shared.example"),
                event(globex, contact_email="Pat@Shared.example"),
            ],
        )
        assert [e["contact_id"] for e in await timeline(api, acme)] == [at_acme["id"]]
        assert [e["contact_id"] for e in await timeline(api, globex)] == [at_globex["id"]]

    async def test_a_malformed_contact_email_is_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        result = await ingest_one(api, event(acme, contact_email="not-an-email"))
        assert locs(result) == [["contact_email"]]

    async def test_giving_both_contact_id_and_email_is_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        contact = await create_contact(api, acme["id"], email="hank@acme.example")
        result = await ingest_one(
            api, event(acme, contact_id=contact["id"], contact_email="hank@acme.example")
        )
        assert result["status"] == "rejected"
