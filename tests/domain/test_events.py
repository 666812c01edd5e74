from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from app.domain.events import (
    ACTIVITY_TYPES,
    CATALOGUE,
    CUSTOM_TYPE,
    MAX_FUTURE,
    Problem,
    event_type,
    validate_event,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
ANY_TYPE = [*sorted(CATALOGUE), "custom.renewal_call"]


def problems(
    type_name: str,
    value: float | None = None,
    properties: dict[str, Any] | None = None,
    *,
    occurred_at: datetime = NOW - timedelta(hours=1),
) -> list[Problem]:
    return validate_event(type_name, value, properties or {}, occurred_at, NOW)


def fields(found: list[Problem]) -> list[str]:
    return [p.field for p in found]


class TestEventType:
    @pytest.mark.parametrize("name", sorted(CATALOGUE))
    def test_a_catalogue_name_is_its_own_type(self, name: str) -> None:
        assert event_type(name) is CATALOGUE[name]

    def test_a_custom_name_is_the_custom_type(self) -> None:
        assert event_type("custom.webinar_attended") is CUSTOM_TYPE

    @pytest.mark.parametrize(
        "name",
        [
            "signup",
            "custom.",
            "custom.Webinar",
            "custom.1st_call",
            "custom.a-b",
            "Custom.webinar",
            "custom.webinar\n",
            "login\n",
            f"custom.{'a' * 65}",
        ],
    )
    def test_anything_else_is_unknown(self, name: str) -> None:
        assert event_type(name) is None

    def test_a_custom_name_may_take_64_characters(self) -> None:
        assert event_type(f"custom.{'a' * 64}") is CUSTOM_TYPE


class TestUnknownType:
    def test_is_a_problem_with_the_type(self) -> None:
        assert fields(problems("signup")) == ["type"]

    def test_is_the_only_problem_reported(self) -> None:
        naive = datetime(2026, 1, 1)
        assert fields(problems("signup", float("nan"), occurred_at=naive)) == ["type"]


class TestOccurredAt:
    @pytest.mark.parametrize("type_name", ["login", "custom.anything"])
    def test_a_naive_time_is_refused(self, type_name: str) -> None:
        assert fields(problems(type_name, occurred_at=datetime(2026, 1, 1))) == ["occurred_at"]

    def test_exactly_five_minutes_ahead_is_allowed(self) -> None:
        assert problems("login", occurred_at=NOW + MAX_FUTURE) == []

    def test_more_than_five_minutes_ahead_is_refused(self) -> None:
        late = NOW + MAX_FUTURE + timedelta(microseconds=1)
        assert fields(problems("login", occurred_at=late)) == ["occurred_at"]

    def test_years_of_backfill_are_allowed(self) -> None:
        assert problems("login", occurred_at=datetime(2015, 3, 1, tzinfo=UTC)) == []

    def test_another_offset_is_compared_as_the_same_instant(self) -> None:
        tokyo = NOW.astimezone(timezone(timedelta(hours=9)))
        assert problems("login", occurred_at=tokyo + MAX_FUTURE) == []


class TestNoRules:
    @pytest.mark.parametrize("type_name", ["login", "referral", "custom.webinar"])
    def test_needs_no_value_and_no_properties(self, type_name: str) -> None:
        assert problems(type_name) == []

    @pytest.mark.parametrize("type_name", ["login", "custom.webinar"])
    def test_keeps_free_properties(self, type_name: str) -> None:
        assert problems(type_name, properties={"anything": [1, {"deep": True}]}) == []

    @pytest.mark.parametrize("value", [-1e9, 0.0, 3.25, 1e12])
    def test_a_custom_type_takes_any_finite_value(self, value: float) -> None:
        assert problems("custom.score", value) == []

    @pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf")])
    @pytest.mark.parametrize("type_name", ANY_TYPE)
    def test_no_type_takes_a_value_that_is_not_finite(self, type_name: str, value: float) -> None:
        assert "value" in fields(problems(type_name, value))


class TestFeatureUsed:
    def test_is_valid_with_the_feature(self) -> None:
        assert problems("feature_used", properties={"feature": "reports"}) == []

    def test_needs_the_feature(self) -> None:
        assert fields(problems("feature_used")) == ["properties.feature"]

    @pytest.mark.parametrize("feature", ["", 7, True, ["reports"]])
    def test_needs_the_feature_as_a_non_empty_string(self, feature: Any) -> None:
        found = problems("feature_used", properties={"feature": feature})
        assert fields(found) == ["properties.feature"]

    def test_a_null_feature_counts_as_missing(self) -> None:
        found = problems("feature_used", properties={"feature": None})
        assert found == [Problem("properties.feature", "is required for this type")]


class TestTickets:
    @pytest.mark.parametrize("type_name", ["ticket_opened", "ticket_resolved", "ticket_escalated"])
    def test_is_valid_with_a_ticket_id(self, type_name: str) -> None:
        assert problems(type_name, properties={"ticket_id": "ZD-1"}) == []

    @pytest.mark.parametrize("type_name", ["ticket_opened", "ticket_resolved", "ticket_escalated"])
    def test_needs_a_ticket_id(self, type_name: str) -> None:
        assert fields(problems(type_name)) == ["properties.ticket_id"]

    def test_a_numeric_ticket_id_is_refused(self) -> None:
        found = problems("ticket_opened", properties={"ticket_id": 4411})
        assert fields(found) == ["properties.ticket_id"]

    def test_other_properties_are_kept_free(self) -> None:
        properties = {"ticket_id": "ZD-1", "priority": "high", "tags": ["billing"]}
        assert problems("ticket_opened", properties=properties) == []


class TestOrder:
    @pytest.mark.parametrize("value", [0.0, 0.01, 125_000.0])
    def test_is_valid_with_an_amount_of_zero_or_more(self, value: float) -> None:
        assert problems("order", value) == []

    def test_needs_a_value(self) -> None:
        assert problems("order") == [Problem("value", "is required for this type")]

    def test_a_negative_amount_is_refused(self) -> None:
        assert problems("order", -0.01) == [Problem("value", "must be at least 0")]

    def test_takes_a_currency(self) -> None:
        assert problems("order", 10.0, {"currency": "EUR"}) == []

    def test_a_currency_that_is_not_a_string_is_refused(self) -> None:
        assert fields(problems("order", 10.0, {"currency": 978})) == ["properties.currency"]


class TestOptionalAmounts:
    @pytest.mark.parametrize("type_name", ["payment_failed", "renewal", "downgrade", "expansion"])
    def test_the_amount_may_be_left_out(self, type_name: str) -> None:
        assert problems(type_name) == []

    @pytest.mark.parametrize("type_name", ["payment_failed", "renewal", "downgrade", "expansion"])
    def test_an_amount_given_is_zero_or_more(self, type_name: str) -> None:
        assert problems(type_name, 0.0) == []
        assert fields(problems(type_name, -5.0)) == ["value"]


class TestTouchpoint:
    @pytest.mark.parametrize("channel", ["call", "email", "meeting", "note"])
    def test_is_valid_with_a_known_channel(self, channel: str) -> None:
        assert problems("touchpoint", properties={"channel": channel}) == []

    def test_needs_a_channel(self) -> None:
        assert fields(problems("touchpoint")) == ["properties.channel"]

    @pytest.mark.parametrize("channel", ["fax", "Call", ""])
    def test_an_unknown_channel_is_refused(self, channel: str) -> None:
        assert fields(problems("touchpoint", properties={"channel": channel})) == [
            "properties.channel"
        ]

    def test_the_choices_are_named_in_the_message(self) -> None:
        (found,) = problems("touchpoint", properties={"channel": "fax"})
        assert found.message == "must be one of call, email, meeting, note"

    def test_takes_the_owner_who_logged_it(self) -> None:
        properties = {"channel": "call", "owner_id": "4b6a4e0c-3d5e-4c07-9a53-7d2f1c9e8a10"}
        assert problems("touchpoint", properties=properties) == []


class TestNps:
    @pytest.mark.parametrize("value", [0.0, 7.0, 10.0])
    def test_is_valid_with_a_whole_score_from_0_to_10(self, value: float) -> None:
        assert problems("nps", value) == []

    def test_needs_a_score(self) -> None:
        assert fields(problems("nps")) == ["value"]

    @pytest.mark.parametrize("value", [-1.0, 11.0, 10.5])
    def test_a_score_outside_0_to_10_is_refused(self, value: float) -> None:
        assert "value" in fields(problems("nps", value))

    def test_a_fractional_score_is_refused(self) -> None:
        assert problems("nps", 7.5) == [Problem("value", "must be a whole number")]

    def test_a_huge_score_is_refused_without_error(self) -> None:
        assert fields(problems("nps", 1e300)) == ["value"]


class TestSurvey:
    def test_is_valid_with_a_score_and_the_question(self) -> None:
        assert problems("survey", 4.5, {"question": "How easy was setup?"}) == []

    def test_takes_any_finite_score(self) -> None:
        assert problems("survey", -3.0, {"question": "Delta?"}) == []

    def test_needs_a_score(self) -> None:
        assert fields(problems("survey", None, {"question": "How easy?"})) == ["value"]

    def test_needs_the_question(self) -> None:
        assert fields(problems("survey", 4.0)) == ["properties.question"]

    def test_reports_both_missing_at_once(self) -> None:
        assert fields(problems("survey")) == ["value", "properties.question"]


class TestEmails:
    @pytest.mark.parametrize(
        "type_name", ["email_sent", "email_opened", "email_clicked", "email_replied"]
    )
    def test_the_message_id_may_be_left_out(self, type_name: str) -> None:
        assert problems(type_name) == []

    @pytest.mark.parametrize(
        "type_name", ["email_sent", "email_opened", "email_clicked", "email_replied"]
    )
    def test_a_message_id_given_is_a_non_empty_string(self, type_name: str) -> None:
        assert problems(type_name, properties={"message_id": "m-1"}) == []
        assert fields(problems(type_name, properties={"message_id": ""})) == [
            "properties.message_id"
        ]


class TestEveryProblemAtOnce:
    def test_time_value_and_properties_are_all_reported(self) -> None:
        found = problems(
            "nps",
            12.5,
            occurred_at=NOW + timedelta(hours=1),
        )
        assert fields(found) == ["occurred_at", "value", "value"]

    def test_a_value_and_a_property_problem_are_both_reported(self) -> None:
        found = problems("order", -1.0, {"currency": 1})
        assert fields(found) == ["value", "properties.currency"]


class TestActivityTypes:
    def test_our_own_outreach_is_not_activity(self) -> None:
        assert "email_sent" not in ACTIVITY_TYPES

    @pytest.mark.parametrize("type_name", sorted(set(CATALOGUE) - {"email_sent"}))
    def test_every_other_catalogue_type_is_activity(self, type_name: str) -> None:
        assert type_name in ACTIVITY_TYPES
