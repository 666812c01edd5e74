"""Ingesting one event: the rules of each type, of each field, and the type catalogue."""

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from tests.api.events_support import (
    PROBLEM,
    T0,
    Json,
    event,
    ingest_one,
    locs,
    parse_time,
    timeline,
)
from tests.api.events_support import fixture_acme as fixture_acme

MAX_PROPERTIES_BYTES = 16_384


def from_now(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def properties_of_size(size: int, char: str = "x") -> dict[str, str]:
    """Properties whose compact UTF-8 JSON takes exactly `size` bytes, mostly of `char`."""
    room = size - len(json.dumps({"note": ""}, separators=(",", ":")).encode())
    width = len(char.encode())
    return {"note": char * (room // width) + "x" * (room % width)}


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

    @pytest.mark.parametrize("value", ["nine", True, [9], {"v": 9}])
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
