import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from tests.databases import backend
from tests.factories import (
    Workspace,
    auth,
    create_client,
    create_contact,
    create_key,
    create_workspace,
)

PROBLEM = "application/problem+json"
MAX_BATCH = 5000
MAX_PROPERTIES_BYTES = 16_384
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)

Event = dict[str, Any]
Json = dict[str, Any]
Param = tuple[str, str | int | float | bool | None]


def at(hours: float) -> str:
    """A moment `hours` after T0, which lies safely in the past."""
    return (T0 + timedelta(hours=hours)).isoformat()


def from_now(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def parse_time(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


def event(client: Json | str, type: str = "login", *, hours: float = 0, **fields: Any) -> Event:
    """An event for a client (its JSON, or a client_external_id), at T0 + hours."""
    ref = {"client_external_id": client} if isinstance(client, str) else {"client_id": client["id"]}
    return {**ref, "type": type, "occurred_at": at(hours), **fields}


def ticket(client: Json, type: str, ticket_id: str, hours: float, **fields: Any) -> Event:
    return event(client, type, hours=hours, properties={"ticket_id": ticket_id}, **fields)


def properties_of_size(size: int, char: str = "x") -> dict[str, str]:
    """Properties whose compact UTF-8 JSON takes exactly `size` bytes, mostly of `char`."""
    room = size - len(json.dumps({"note": ""}, separators=(",", ":")).encode())
    width = len(char.encode())
    return {"note": char * (room // width) + "x" * (room % width)}


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
    api: httpx.AsyncClient, path: str, *, limit: int = 100, params: Sequence[Param] = ()
) -> list[Json]:
    """Every page in turn; each page is checked to be a proper page."""
    seen: list[Json] = []
    cursor: str | None = None
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


@pytest.fixture
async def acme(api: httpx.AsyncClient) -> Json:
    return await create_client(api, name="Acme", external_id="crm-acme", acquired_at=at(-1000))


@pytest.fixture
async def globex(api: httpx.AsyncClient) -> Json:
    return await create_client(api, name="Globex", external_id="crm-globex")


VALID_BY_TYPE: list[tuple[str, float | None, Json]] = [
    ("login", None, {}),
    ("feature_used", None, {"feature": "reports"}),
    ("ticket_opened", None, {"ticket_id": "ZD-1", "priority": "high"}),
    ("ticket_resolved", None, {"ticket_id": "ZD-1"}),
    ("ticket_escalated", None, {"ticket_id": "ZD-1"}),
    ("order", 0, {}),
    ("order", 1250.5, {"currency": "EUR"}),
    ("payment_failed", None, {}),
    ("payment_failed", 99.0, {}),
    ("touchpoint", None, {"channel": "call"}),
    ("touchpoint", None, {"channel": "note", "owner_id": "am-7"}),
    ("nps", 0, {}),
    ("nps", 10, {}),
    ("nps", 7.0, {}),
    ("survey", 4.5, {"question": "How easy was setup?"}),
    ("survey", -2, {"question": "Change since last quarter?"}),
    ("email_sent", None, {"message_id": "m-1"}),
    ("email_opened", None, {}),
    ("email_clicked", None, {"message_id": "m-1", "url": "https://acme.example"}),
    ("email_replied", None, {}),
    ("referral", None, {}),
    ("renewal", 30_000, {}),
    ("downgrade", None, {}),
    ("expansion", 500, {}),
    ("custom.webinar_attended", None, {"webinar": "Q3 roadmap"}),
    ("custom.health_score", -12.75, {}),
]

INVALID_BY_TYPE: list[tuple[str, float | None, Json, list[list[str | int]]]] = [
    ("signup", None, {}, [["type"]]),
    ("custom.webinar\n", None, {}, [["type"]]),
    ("Login", None, {}, [["type"]]),
    ("custom.", None, {}, [["type"]]),
    ("feature_used", None, {}, [["properties", "feature"]]),
    ("feature_used", None, {"feature": ""}, [["properties", "feature"]]),
    ("ticket_opened", None, {}, [["properties", "ticket_id"]]),
    ("ticket_resolved", None, {"ticket_id": 42}, [["properties", "ticket_id"]]),
    ("ticket_escalated", None, {"ticket": "ZD-1"}, [["properties", "ticket_id"]]),
    ("order", None, {}, [["value"]]),
    ("order", -0.01, {}, [["value"]]),
    ("order", 10, {"currency": 978}, [["properties", "currency"]]),
    ("payment_failed", -1, {}, [["value"]]),
    ("touchpoint", None, {}, [["properties", "channel"]]),
    ("touchpoint", None, {"channel": "fax"}, [["properties", "channel"]]),
    ("nps", None, {}, [["value"]]),
    ("nps", 11, {}, [["value"]]),
    ("nps", -1, {}, [["value"]]),
    ("nps", 7.5, {}, [["value"]]),
    ("survey", None, {"question": "How easy?"}, [["value"]]),
    ("survey", 3, {}, [["properties", "question"]]),
    ("survey", None, {}, [["value"], ["properties", "question"]]),
    ("email_opened", None, {"message_id": ""}, [["properties", "message_id"]]),
    ("renewal", -100, {}, [["value"]]),
    ("downgrade", -1, {}, [["value"]]),
    ("expansion", -1, {}, [["value"]]),
]


class TestValidationPerType:
    @pytest.mark.parametrize(("type_name", "value", "properties"), VALID_BY_TYPE)
    async def test_a_valid_event_is_created(
        self,
        api: httpx.AsyncClient,
        acme: Json,
        type_name: str,
        value: float | None,
        properties: Json,
    ) -> None:
        result = await ingest_one(api, event(acme, type_name, value=value, properties=properties))
        assert result["status"] == "created", result
        (stored,) = await timeline(api, acme)
        assert stored["id"] == result["id"]
        assert stored["type"] == type_name
        assert stored["value"] == value
        assert stored["properties"] == properties

    @pytest.mark.parametrize(("type_name", "value", "properties", "expected"), INVALID_BY_TYPE)
    async def test_an_invalid_event_is_rejected_with_the_fields_named(
        self,
        api: httpx.AsyncClient,
        acme: Json,
        type_name: str,
        value: float | None,
        properties: Json,
        expected: list[list[str | int]],
    ) -> None:
        result = await ingest_one(api, event(acme, type_name, value=value, properties=properties))
        assert locs(result) == expected
        assert result["id"] is None
        assert result["problem"]["status"] == 422
        assert await timeline(api, acme) == []


class TestEventFields:
    async def test_the_stored_event_reads_back_as_sent(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        sent = event(
            acme,
            "order",
            hours=3,
            value=19.99,
            properties={"currency": "USD", "lines": [{"sku": "A", "qty": 2}]},
            source="shopify",
            external_id="order-1001",
        )
        before = datetime.now(UTC)
        result = await ingest_one(api, sent)
        (stored,) = await timeline(api, acme)
        assert stored == {
            "id": result["id"],
            "client_id": acme["id"],
            "type": "order",
            "occurred_at": stored["occurred_at"],
            "value": 19.99,
            "properties": {"currency": "USD", "lines": [{"sku": "A", "qty": 2}]},
            "contact_id": None,
            "source": "shopify",
            "external_id": "order-1001",
            "received_at": stored["received_at"],
        }
        assert parse_time(stored["occurred_at"]) == T0 + timedelta(hours=3)
        received = parse_time(stored["received_at"])
        assert received is not None
        assert received >= before - timedelta(seconds=1)

    async def test_the_source_defaults_to_api(self, api: httpx.AsyncClient, acme: Json) -> None:
        await ingest_one(api, event(acme))
        (stored,) = await timeline(api, acme)
        assert stored["source"] == "api"
        assert stored["external_id"] is None

    async def test_a_client_external_id_finds_the_client(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        result = await ingest_one(api, event("crm-acme"))
        assert result["status"] == "created"
        assert [e["id"] for e in await timeline(api, acme)] == [result["id"]]

    async def test_an_offset_is_kept_as_the_same_instant(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await ingest_one(api, event(acme, occurred_at="2026-03-02T18:00:00+09:00"))
        (stored,) = await timeline(api, acme)
        assert parse_time(stored["occurred_at"]) == T0

    async def test_years_of_backfill_are_accepted(self, api: httpx.AsyncClient, acme: Json) -> None:
        result = await ingest_one(api, event(acme, occurred_at="2016-02-29T12:00:00Z"))
        assert result["status"] == "created"

    async def test_four_minutes_ahead_is_accepted(self, api: httpx.AsyncClient, acme: Json) -> None:
        result = await ingest_one(api, event(acme, occurred_at=from_now(minutes=4)))
        assert result["status"] == "created"

    async def test_more_than_five_minutes_ahead_is_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        result = await ingest_one(api, event(acme, occurred_at=from_now(minutes=6)))
        assert locs(result) == [["occurred_at"]]

    @pytest.mark.parametrize("occurred_at", ["2026-03-02T09:00:00", 1772442000, "yesterday", None])
    async def test_an_occurred_at_without_timezone_or_not_iso_is_rejected(
        self, api: httpx.AsyncClient, acme: Json, occurred_at: Any
    ) -> None:
        result = await ingest_one(api, event(acme, occurred_at=occurred_at))
        assert locs(result) == [["occurred_at"]]

    async def test_a_missing_occurred_at_is_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        item = event(acme)
        del item["occurred_at"]
        assert locs(await ingest_one(api, item)) == [["occurred_at"]]

    @pytest.mark.parametrize(
        "occurred_at", ["0001-01-01T00:30:00+01:00", "9999-12-31T23:30:00-01:00"]
    )
    async def test_an_occurred_at_beyond_the_calendar_in_utc_is_rejected(
        self, api: httpx.AsyncClient, acme: Json, occurred_at: str
    ) -> None:
        result = await ingest_one(api, event(acme, occurred_at=occurred_at))
        assert locs(result) == [["occurred_at"]]

    @pytest.mark.parametrize("value", ["9", True, [9], {"v": 9}])
    async def test_a_value_that_is_not_a_number_is_rejected(
        self, api: httpx.AsyncClient, acme: Json, value: Any
    ) -> None:
        result = await ingest_one(api, event(acme, "nps", value=value))
        assert locs(result)[0][0] == "value"

    @pytest.mark.parametrize("properties", [["a"], "text", 7])
    async def test_properties_that_are_not_an_object_are_rejected(
        self, api: httpx.AsyncClient, acme: Json, properties: Any
    ) -> None:
        result = await ingest_one(api, event(acme, properties=properties))
        assert locs(result) == [["properties"]]

    async def test_properties_of_exactly_16_kb_are_accepted(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        properties = properties_of_size(MAX_PROPERTIES_BYTES)
        result = await ingest_one(api, event(acme, properties=properties))
        assert result["status"] == "created"

    async def test_properties_over_16_kb_are_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        properties = properties_of_size(MAX_PROPERTIES_BYTES + 1)
        result = await ingest_one(api, event(acme, properties=properties))
        assert locs(result) == [["properties"]]

    async def test_properties_are_measured_in_utf8_bytes(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        properties = properties_of_size(MAX_PROPERTIES_BYTES, char="é")
        result = await ingest_one(api, event(acme, properties=properties))
        assert result["status"] == "created", result
        (stored,) = await timeline(api, acme)
        assert stored["properties"] == properties

    async def test_properties_holding_nan_are_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        """NaN is not JSON, although Python's parser reads it."""
        body = json.dumps({"events": [event(acme, properties={"score": float("nan")})]})
        response = await api.post(
            "/v1/events", content=body, headers={"content-type": "application/json"}
        )
        assert response.status_code in (400, 422), response.text
        assert response.headers["content-type"] == PROBLEM
        assert await timeline(api, acme) == []

    async def test_giving_both_client_id_and_external_id_is_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        result = await ingest_one(api, event(acme, client_external_id="crm-acme"))
        assert result["status"] == "rejected"
        assert "exactly one" in result["problem"]["errors"][0]["msg"]

    async def test_giving_neither_client_id_nor_external_id_is_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        item = event(acme)
        del item["client_id"]
        result = await ingest_one(api, item)
        assert result["status"] == "rejected"
        assert "exactly one" in result["problem"]["errors"][0]["msg"]

    async def test_an_unknown_client_id_is_rejected(self, api: httpx.AsyncClient) -> None:
        result = await ingest_one(api, event({"id": str(uuid.uuid4())}))
        assert locs(result) == [["client_id"]]

    async def test_an_unknown_field_is_rejected(self, api: httpx.AsyncClient, acme: Json) -> None:
        result = await ingest_one(api, event(acme, colour="blue"))
        assert locs(result) == [["colour"]]

    @pytest.mark.parametrize("source", ["", "Zendesk", "-api", "a b", "x" * 65])
    async def test_a_malformed_source_is_rejected(
        self, api: httpx.AsyncClient, acme: Json, source: str
    ) -> None:
        result = await ingest_one(api, event(acme, source=source))
        assert locs(result) == [["source"]]

    @pytest.mark.parametrize("external_id", ["", " x", "x" * 256])
    async def test_a_malformed_external_id_is_rejected(
        self, api: httpx.AsyncClient, acme: Json, external_id: str
    ) -> None:
        result = await ingest_one(api, event(acme, external_id=external_id))
        assert locs(result) == [["external_id"]]

    async def test_every_problem_of_an_item_is_reported_at_once(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        item = event(acme, "survey", occurred_at=from_now(hours=2))
        result = await ingest_one(api, item)
        assert locs(result) == [["occurred_at"], ["value"], ["properties", "question"]]


class TestDedupe:
    async def test_a_repeat_in_a_later_batch_is_a_duplicate_of_the_first(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        item = event(acme, external_id="evt-1")
        first = await send(api, [item])
        again = await send(api, [item])
        assert statuses(again) == ["duplicate"]
        assert again["results"][0]["id"] == first["results"][0]["id"]
        assert (again["created"], again["duplicates"], again["rejected"]) == (0, 1, 0)
        assert len(await timeline(api, acme)) == 1

    async def test_a_duplicate_keeps_the_first_event_as_it_was(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "order", value=10, external_id="o-1")])
        await send(api, [event(acme, "order", hours=5, value=99, external_id="o-1")])
        (stored,) = await timeline(api, acme)
        assert stored["value"] == 10
        assert parse_time(stored["occurred_at"]) == T0

    async def test_a_repeat_within_a_batch_reports_the_first_items_id(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(
            api,
            [
                event(acme, external_id="evt-1"),
                event(acme, "order", value=1, external_id="evt-2"),
                event(acme, external_id="evt-1"),
                event(acme, external_id="evt-1"),
            ],
        )
        assert statuses(batch) == ["created", "created", "duplicate", "duplicate"]
        ids = [r["id"] for r in batch["results"]]
        assert ids[2] == ids[0]
        assert ids[3] == ids[0]
        assert (batch["created"], batch["duplicates"]) == (2, 2)
        assert sorted(e["id"] for e in await timeline(api, acme)) == sorted(ids[:2])

    async def test_a_repeat_within_a_batch_of_an_already_stored_event_reports_the_stored_id(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        first = await send(api, [event(acme, external_id="evt-1")])
        stored_id = first["results"][0]["id"]
        batch = await send(
            api, [event(acme, external_id="evt-1"), event(acme, external_id="evt-1")]
        )
        assert statuses(batch) == ["duplicate", "duplicate"]
        assert [r["id"] for r in batch["results"]] == [stored_id, stored_id]
        assert len(await timeline(api, acme)) == 1

    async def test_the_same_external_id_from_another_source_is_another_event(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(
            api,
            [
                event(acme, external_id="1", source="zendesk"),
                event(acme, external_id="1", source="intercom"),
                event(acme, external_id="1"),
            ],
        )
        assert statuses(batch) == ["created", "created", "created"]
        assert len(await timeline(api, acme)) == 3

    async def test_the_key_is_the_source_and_external_id_not_the_client(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        first = await send(api, [event(acme, external_id="shared")])
        again = await send(api, [event(globex, external_id="shared")])
        assert statuses(again) == ["duplicate"]
        assert again["results"][0]["id"] == first["results"][0]["id"]
        assert await timeline(api, globex) == []

    async def test_events_without_external_id_are_never_duplicates(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme), event(acme)])
        batch = await send(api, [event(acme)])
        assert statuses(batch) == ["created"]
        assert len(await timeline(api, acme)) == 3

    async def test_a_rejected_item_does_not_claim_its_key(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(
            api,
            [
                event(acme, "nps", value=42, external_id="k"),
                event(acme, "nps", value=9, external_id="k"),
            ],
            status=207,
        )
        assert statuses(batch) == ["rejected", "created"]
        later = await send(api, [event(acme, "nps", value=9, external_id="k")])
        assert later["results"][0] == {
            "index": 0,
            "status": "duplicate",
            "id": batch["results"][1]["id"],
            "problem": None,
        }

    async def test_an_event_whose_client_was_deleted_is_stored_again_when_resent(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        """A duplicate points at a stored event: the deleted one is stored no longer."""
        await send(api, [event(acme, external_id="evt-1")])
        assert (await api.delete(f"/v1/clients/{acme['id']}")).status_code == 204
        batch = await send(api, [event(globex, external_id="evt-1")])
        assert statuses(batch) == ["created"]
        assert [e["id"] for e in await timeline(api, globex)] == [batch["results"][0]["id"]]
        again = await send(api, [event(globex, external_id="evt-1")])
        assert again["results"][0]["id"] == batch["results"][0]["id"]

    async def test_a_batch_of_only_duplicates_is_200(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        items = [event(acme, external_id=f"e-{i}") for i in range(3)]
        await send(api, items)
        batch = await send(api, items, status=200)
        assert batch["duplicates"] == 3


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


class TestTimeline:
    async def test_is_newest_first(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(api, [event(acme, hours=h) for h in (5, -30, 12, 0, 7)])
        moments = [parse_time(e["occurred_at"]) for e in await timeline(api, acme)]
        assert moments == [T0 + timedelta(hours=h) for h in (12, 7, 5, 0, -30)]

    async def test_holds_only_the_clients_events(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        batch = await send(api, [event(acme), event(globex), event(acme, hours=1)])
        ids = [r["id"] for r in batch["results"]]
        assert [e["id"] for e in await timeline(api, acme)] == [ids[2], ids[0]]
        assert [e["id"] for e in await timeline(api, globex)] == [ids[1]]

    async def test_filters_by_one_type(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(
            api,
            [event(acme), event(acme, "order", value=5, hours=1), event(acme, "referral")],
        )
        found = await timeline(api, acme, ("type", "order"))
        assert [e["type"] for e in found] == ["order"]

    async def test_filters_by_several_types_when_repeated(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(
            api,
            [
                event(acme, hours=1),
                event(acme, "order", value=5, hours=2),
                event(acme, "referral", hours=3),
                event(acme, "custom.webinar", hours=4),
            ],
        )
        found = await timeline(api, acme, ("type", "login"), ("type", "custom.webinar"))
        assert [e["type"] for e in found] == ["custom.webinar", "login"]

    async def test_an_unknown_type_filter_finds_nothing(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme)])
        assert await timeline(api, acme, ("type", "signup")) == []

    async def test_occurred_from_is_inclusive_and_occurred_to_exclusive(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=h) for h in (1, 2, 3, 4)])
        found = await timeline(api, acme, ("occurred_from", at(2)), ("occurred_to", at(4)))
        assert [parse_time(e["occurred_at"]) for e in found] == [
            T0 + timedelta(hours=3),
            T0 + timedelta(hours=2),
        ]

    async def test_time_filters_compare_instants_across_offsets(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=h) for h in (1, 2)])
        found = await timeline(api, acme, ("occurred_from", "2026-03-02T20:30:00+10:00"))
        assert [parse_time(e["occurred_at"]) for e in found] == [T0 + timedelta(hours=2)]

    async def test_combines_type_and_time_filters(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(
            api,
            [
                event(acme, hours=1),
                event(acme, "referral", hours=1),
                event(acme, hours=5),
            ],
        )
        found = await timeline(
            api, acme, ("type", "login"), ("occurred_from", at(0)), ("occurred_to", at(2))
        )
        assert len(found) == 1
        assert (found[0]["type"], parse_time(found[0]["occurred_at"])) == (
            "login",
            T0 + timedelta(hours=1),
        )

    async def test_a_naive_time_filter_is_422(self, api: httpx.AsyncClient, acme: Json) -> None:
        response = await api.get(
            f"/v1/clients/{acme['id']}/events", params={"occurred_from": "2026-03-02T09:00:00"}
        )
        assert response.status_code == 422
        assert response.headers["content-type"] == PROBLEM

    async def test_pages_have_no_gaps_and_no_repeats_across_equal_moments(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(api, [event(acme, hours=h) for h in (1, 1, 1, 2, 2, 3, 0, 1, 2, 1, 5)])
        everything = await timeline(api, acme)
        for limit in (1, 2, 3, 4, 10):
            paged = await walk(api, f"/v1/clients/{acme['id']}/events", limit=limit)
            assert [e["id"] for e in paged] == [e["id"] for e in everything]
        assert sorted(e["id"] for e in everything) == sorted(r["id"] for r in batch["results"])

    async def test_paging_is_stable_while_events_arrive(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(api, [event(acme, hours=h) for h in range(6)])
        first = await api.get(f"/v1/clients/{acme['id']}/events", params={"limit": 3})
        page = first.json()
        assert page["has_more"] is True
        newer = await send(api, [event(acme, hours=100), event(acme, hours=-100)])
        rest = await walk(
            api,
            f"/v1/clients/{acme['id']}/events",
            limit=2,
            params=[("cursor", page["next_cursor"])],
        )
        seen = [e["id"] for e in page["data"]] + [e["id"] for e in rest]
        assert len(seen) == len(set(seen))
        original = {r["id"] for r in batch["results"]}
        assert original <= set(seen)
        assert newer["results"][0]["id"] not in seen
        assert newer["results"][1]["id"] in seen

    @pytest.mark.parametrize("name", ["occurred_from", "occurred_to"])
    async def test_a_time_filter_beyond_the_calendar_in_utc_is_422(
        self, api: httpx.AsyncClient, acme: Json, name: str
    ) -> None:
        for path in (f"/v1/clients/{acme['id']}/events", "/v1/events"):
            response = await api.get(path, params={name: "0001-01-01T00:30:00+01:00"})
            assert response.status_code == 422, path
            assert response.headers["content-type"] == PROBLEM

    async def test_a_garbled_cursor_is_400(self, api: httpx.AsyncClient, acme: Json) -> None:
        response = await api.get(
            f"/v1/clients/{acme['id']}/events", params={"cursor": "not-a-cursor"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == PROBLEM

    async def test_an_unknown_client_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/clients/{uuid.uuid4()}/events")
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM


class TestWorkspaceEvents:
    async def test_lists_every_clients_events_newest_first(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        batch = await send(api, [event(acme, hours=1), event(globex, hours=3), event(acme)])
        ids = [r["id"] for r in batch["results"]]
        assert [e["id"] for e in await all_events(api)] == [ids[1], ids[0], ids[2]]

    async def test_filters_by_client(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(api, [event(acme), event(globex), event(globex, hours=1)])
        found = await all_events(api, ("client_id", globex["id"]))
        assert {e["client_id"] for e in found} == {globex["id"]}
        assert len(found) == 2

    async def test_filters_by_source(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(
            api,
            [event(acme, source="zendesk"), event(globex, source="zendesk"), event(acme)],
        )
        found = await all_events(api, ("source", "zendesk"))
        assert [e["source"] for e in found] == ["zendesk", "zendesk"]

    async def test_filters_by_type_and_time(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(
            api,
            [
                event(acme, "referral", hours=1),
                event(globex, "referral", hours=2),
                event(globex, "referral", hours=3),
                event(globex, hours=2),
            ],
        )
        found = await all_events(
            api, ("type", "referral"), ("occurred_from", at(1)), ("occurred_to", at(3))
        )
        assert [parse_time(e["occurred_at"]) for e in found] == [
            T0 + timedelta(hours=2),
            T0 + timedelta(hours=1),
        ]

    async def test_pages_have_no_gaps_and_no_repeats(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        batch = await send(api, [event(acme if h % 2 else globex, hours=h // 3) for h in range(17)])
        paged = await walk(api, "/v1/events", limit=4)
        assert sorted(e["id"] for e in paged) == sorted(r["id"] for r in batch["results"])
        assert [e["id"] for e in paged] == [e["id"] for e in await all_events(api)]

    async def test_an_unknown_client_filter_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/events", params={"client_id": str(uuid.uuid4())})
        assert response.status_code == 404


class TestEventTypes:
    async def test_lists_the_catalogue_and_custom_types(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/event-types")
        assert response.status_code == 200
        names = [t["name"] for t in response.json()]
        assert {"login", "order", "nps", "survey", "touchpoint", "ticket_opened"} <= set(names)
        assert names[-1] == "custom.<name>"
        assert len(names) == len(set(names))

    async def test_states_each_types_rules(self, api: httpx.AsyncClient) -> None:
        types = {t["name"]: t for t in (await api.get("/v1/event-types")).json()}
        nps = types["nps"]["value"]
        assert (nps["required"], nps["minimum"], nps["maximum"], nps["integer"]) == (
            True,
            0,
            10,
            True,
        )
        assert types["order"]["value"]["required"] is True
        assert types["order"]["value"]["minimum"] == 0
        question = {p["name"]: p for p in types["survey"]["properties"]}["question"]
        assert question["required"] is True
        channel = {p["name"]: p for p in types["touchpoint"]["properties"]}["channel"]
        assert channel["choices"] == ["call", "email", "meeting", "note"]
        assert types["login"]["value"]["required"] is False
        assert types["login"]["properties"] == []

    async def test_the_validation_cases_above_cover_every_listed_type(
        self, api: httpx.AsyncClient
    ) -> None:
        listed = {t["name"] for t in (await api.get("/v1/event-types")).json()}
        covered = {name for name, _, _ in VALID_BY_TYPE if not name.startswith("custom.")}
        assert listed - {"custom.<name>"} == covered


class TestDerivedFacts:
    async def test_a_new_client_has_no_facts(self, api: httpx.AsyncClient, acme: Json) -> None:
        client = await fetch_client(api, acme)
        assert client["last_activity_at"] is None
        assert client["last_touchpoint_at"] is None
        assert client["open_tickets"] == 0
        assert client["first_escalation_at"] is None

    async def test_last_activity_is_the_latest_event(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=3), event(acme, "order", value=1, hours=8)])
        assert parse_time((await fetch_client(api, acme))["last_activity_at"]) == T0 + timedelta(
            hours=8
        )

    async def test_a_backfilled_older_event_does_not_move_last_activity_back(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=8)])
        await send(api, [event(acme, hours=-500)])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_activity_at"]) == T0 + timedelta(hours=8)

    async def test_email_sent_is_not_activity(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(api, [event(acme, hours=1)])
        await send(api, [event(acme, "email_sent", hours=9)])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_activity_at"]) == T0 + timedelta(hours=1)

    async def test_only_email_sent_leaves_activity_unknown(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "email_sent", hours=9)])
        assert (await fetch_client(api, acme))["last_activity_at"] is None

    async def test_a_reply_to_outreach_is_activity(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "email_replied", hours=4)])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_activity_at"]) == T0 + timedelta(hours=4)

    async def test_later_then_earlier_touchpoints_keep_the_later(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "touchpoint", hours=10, properties={"channel": "call"})])
        await send(api, [event(acme, "touchpoint", hours=2, properties={"channel": "email"})])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_touchpoint_at"]) == T0 + timedelta(hours=10)

    async def test_earlier_then_later_touchpoints_move_forward(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, "touchpoint", hours=2, properties={"channel": "call"})])
        await send(api, [event(acme, "touchpoint", hours=10, properties={"channel": "note"})])
        client = await fetch_client(api, acme)
        assert parse_time(client["last_touchpoint_at"]) == T0 + timedelta(hours=10)

    async def test_facts_of_rejected_and_duplicate_items_are_not_applied(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [event(acme, hours=1, external_id="e1")])
        await send(
            api,
            [event(acme, hours=50, external_id="e1"), event(acme, "nps", hours=60)],
            status=207,
        )
        client = await fetch_client(api, acme)
        assert parse_time(client["last_activity_at"]) == T0 + timedelta(hours=1)

    async def test_facts_do_not_change_the_clients_etag(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        """They are derived, not edits: a client's If-Match stays valid across ingestion."""
        before = await api.get(f"/v1/clients/{acme['id']}")
        await send(api, [event(acme, "touchpoint", properties={"channel": "call"})])
        response = await api.patch(
            f"/v1/clients/{acme['id']}",
            json={"tier": "enterprise"},
            headers={"If-Match": before.headers["etag"]},
        )
        assert response.status_code == 200, response.text
        assert response.json()["last_touchpoint_at"] is not None


class TestOpenTickets:
    async def test_an_opened_ticket_is_open(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        assert (await fetch_client(api, acme))["open_tickets"] == 1

    async def test_a_resolved_ticket_is_not_open(self, api: httpx.AsyncClient, acme: Json) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        await send(api, [ticket(acme, "ticket_resolved", "t1", 2)])
        assert (await fetch_client(api, acme))["open_tickets"] == 0

    async def test_a_resolution_that_arrives_before_the_opening_closes_it(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_resolved", "t1", 2)])
        assert (await fetch_client(api, acme))["open_tickets"] == 0
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        assert (await fetch_client(api, acme))["open_tickets"] == 0

    async def test_a_reopening_after_the_resolution_opens_it_again(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        await send(api, [ticket(acme, "ticket_resolved", "t1", 2)])
        await send(api, [ticket(acme, "ticket_opened", "t1", 3)])
        assert (await fetch_client(api, acme))["open_tickets"] == 1

    async def test_an_old_resolution_backfilled_after_a_reopening_leaves_it_open(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 3)])
        await send(api, [ticket(acme, "ticket_resolved", "t1", 2)])
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        assert (await fetch_client(api, acme))["open_tickets"] == 1

    async def test_the_whole_story_in_one_batch_in_any_order(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(
            api,
            [
                ticket(acme, "ticket_resolved", "t1", 4),
                ticket(acme, "ticket_opened", "t1", 3),
                ticket(acme, "ticket_opened", "t1", 1),
                ticket(acme, "ticket_resolved", "t1", 2),
            ],
        )
        assert (await fetch_client(api, acme))["open_tickets"] == 0

    async def test_counts_each_open_ticket(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(
            api,
            [
                ticket(acme, "ticket_opened", "t1", 1),
                ticket(acme, "ticket_opened", "t2", 2),
                ticket(acme, "ticket_opened", "t3", 3),
                ticket(globex, "ticket_opened", "t1", 1),
            ],
        )
        await send(api, [ticket(acme, "ticket_resolved", "t2", 5)])
        assert (await fetch_client(api, acme))["open_tickets"] == 2
        assert (await fetch_client(api, globex))["open_tickets"] == 1

    async def test_the_same_ticket_id_at_another_client_is_another_ticket(
        self, api: httpx.AsyncClient, acme: Json, globex: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_opened", "t1", 1)])
        await send(api, [ticket(globex, "ticket_resolved", "t1", 2)])
        assert (await fetch_client(api, acme))["open_tickets"] == 1

    async def test_an_escalation_does_not_open_a_ticket(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_escalated", "t1", 1)])
        assert (await fetch_client(api, acme))["open_tickets"] == 0

    async def test_a_duplicate_opening_is_counted_once(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        item = ticket(acme, "ticket_opened", "t1", 1, external_id="zd-1")
        await send(api, [item, item])
        await send(api, [item])
        assert (await fetch_client(api, acme))["open_tickets"] == 1


class TestFirstEscalation:
    async def test_is_the_first_escalation_after_acquisition(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(
            api,
            [ticket(acme, "ticket_escalated", "t1", 9), ticket(acme, "ticket_escalated", "t2", 4)],
        )
        client = await fetch_client(api, acme)
        assert parse_time(client["first_escalation_at"]) == T0 + timedelta(hours=4)

    async def test_an_earlier_escalation_backfilled_later_becomes_the_first(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_escalated", "t1", 9)])
        await send(api, [ticket(acme, "ticket_escalated", "t0", 2)])
        client = await fetch_client(api, acme)
        assert parse_time(client["first_escalation_at"]) == T0 + timedelta(hours=2)

    async def test_a_later_escalation_does_not_replace_the_first(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        await send(api, [ticket(acme, "ticket_escalated", "t1", 2)])
        await send(api, [ticket(acme, "ticket_escalated", "t2", 9)])
        client = await fetch_client(api, acme)
        assert parse_time(client["first_escalation_at"]) == T0 + timedelta(hours=2)

    async def test_an_escalation_before_acquisition_is_ignored(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, acquired_at=at(0))
        await send(api, [ticket(client, "ticket_escalated", "old", -24)])
        assert (await fetch_client(api, client))["first_escalation_at"] is None
        await send(api, [ticket(client, "ticket_escalated", "new", 24)])
        await send(api, [ticket(client, "ticket_escalated", "older", -48)])
        fetched = await fetch_client(api, client)
        assert parse_time(fetched["first_escalation_at"]) == T0 + timedelta(hours=24)

    async def test_an_escalation_at_the_moment_of_acquisition_counts(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, acquired_at=at(0))
        await send(api, [ticket(client, "ticket_escalated", "t1", 0)])
        assert parse_time((await fetch_client(api, client))["first_escalation_at"]) == T0


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
