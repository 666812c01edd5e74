"""Event values: a JSON number or a decimal string, as money travels on contracts."""

import httpx
import pytest

from tests.api.events_support import Json, event, ingest_one, locs, send, timeline
from tests.api.events_support import fixture_acme as fixture_acme


class TestDecimalStrings:
    async def test_an_order_value_may_be_a_decimal_string(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        batch = await send(
            api,
            [
                event(acme, "order", hours=1, value="11.77", external_id="o-1"),
                event(acme, "order", hours=2, value=11.77, external_id="o-2"),
                event(acme, "survey", hours=3, value="-3", properties={"question": "q"}),
                event(acme, "nps", hours=4, value="9"),
            ],
        )
        assert batch["created"] == 4
        stored = {e["type"] + str(e["external_id"]): e["value"] for e in await timeline(api, acme)}
        assert stored == {"ordero-1": 11.77, "ordero-2": 11.77, "surveyNone": -3.0, "npsNone": 9.0}

    async def test_the_type_rules_apply_to_a_string_as_to_a_number(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        result = await ingest_one(api, event(acme, "nps", value="9.5"))
        assert result["status"] == "rejected"
        assert "whole number" in result["problem"]["detail"]

    @pytest.mark.parametrize(
        "value", ["abc", "11,77", "NaN", "Infinity", "-Infinity", "1e5", "1e999", "", " 1", "0x1A"]
    )
    async def test_a_string_that_is_not_a_plain_decimal_is_rejected_with_its_reason(
        self, api: httpx.AsyncClient, acme: Json, value: str
    ) -> None:
        batch = await send(
            api, [event(acme, "order", value=value), event(acme, hours=1)], status=207
        )
        rejected = batch["results"][0]
        assert rejected["status"] == "rejected"
        assert locs(rejected) == [["value"]]
        (error,) = rejected["problem"]["errors"]
        assert error["type"] == "decimal_string"
        assert '"11.77"' in error["msg"]
        assert batch["results"][1]["status"] == "created"

    async def test_a_decimal_string_longer_than_thirty_digits_is_rejected(
        self, api: httpx.AsyncClient, acme: Json
    ) -> None:
        result = await ingest_one(api, event(acme, "order", value="1" * 31))
        assert result["status"] == "rejected"
        assert locs(result) == [["value"]]
