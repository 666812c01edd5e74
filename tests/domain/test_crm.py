"""CRM sync rules on plain values: options, when a push is worth it, the debounce window, what
a push sends."""

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.crm import (
    DEFAULT_FIELDS,
    HealthValues,
    PushFields,
    SyncObject,
    extra_property_problems,
    flush_due,
    needs_push,
    next_object,
    option_problems,
    parse_options,
    push_properties,
    reads_due,
)
from app.domain.integrations import IntegrationKind

HUBSPOT = IntegrationKind.HUBSPOT
T = datetime(2026, 6, 1, 12, 0, 7, tzinfo=UTC)


class TestNeedsPush:
    def test_a_client_never_pushed_is_pushed(self) -> None:
        assert needs_push(None, 70.0, "healthy", 5)

    def test_another_band_is_pushed_whatever_the_score(self) -> None:
        assert needs_push({"score": 61.0, "band": "healthy"}, 60.0, "watch", 5)

    @pytest.mark.parametrize(
        ("score", "expected"), [(74.9, False), (75.0, True), (65.0, True), (65.1, False)]
    )
    def test_a_score_moves_by_at_least_the_threshold_from_the_pushed_one(
        self, score: float, expected: bool
    ) -> None:
        assert needs_push({"score": 70.0, "band": "healthy"}, score, "healthy", 5) is expected

    def test_drift_is_measured_from_what_was_pushed_not_from_the_last_change(self) -> None:
        pushed = {"score": 70.0, "band": "healthy"}
        drifted = [needs_push(pushed, 70.0 + step, "healthy", 5) for step in (1, 2, 3, 4, 5)]
        assert drifted == [False, False, False, False, True]

    def test_a_score_appearing_or_vanishing_is_pushed(self) -> None:
        assert needs_push({"score": None, "band": "no_data"}, 50.0, "no_data", 5)
        assert needs_push({"score": 50.0, "band": "no_data"}, None, "no_data", 5)
        assert not needs_push({"score": None, "band": "no_data"}, None, "no_data", 5)


class TestDebounce:
    def test_a_change_waits_at_least_the_debounce_and_at_most_twice_it(self) -> None:
        for offset in range(0, 60):
            moment = T + timedelta(seconds=offset)
            due = flush_due(moment, 30)
            assert timedelta(seconds=30) <= due - moment <= timedelta(seconds=60)

    def test_a_burst_within_one_window_shares_one_push(self) -> None:
        start = datetime(2026, 6, 1, 12, 0, 0, tzinfo=UTC)
        moments = [start + timedelta(seconds=s) for s in (0, 5, 17, 29)]
        assert len({flush_due(m, 30) for m in moments}) == 1
        assert flush_due(start + timedelta(seconds=30), 30) != flush_due(start, 30)

    def test_no_debounce_pushes_now(self) -> None:
        assert flush_due(T, 0) == T


class TestOptions:
    def test_defaults_fill_what_is_not_given(self) -> None:
        options = parse_options(HUBSPOT, {"push": {"score_threshold": 10}})
        assert options.push.score_threshold == 10
        assert options.push.debounce_seconds == 30
        assert options.push.fields == DEFAULT_FIELDS[HUBSPOT]
        assert options.tasks.mirror is True
        salesforce = parse_options(IntegrationKind.SALESFORCE, {})
        assert salesforce.push.fields.score == "Tenure_Health_Score__c"

    def test_a_field_set_to_null_is_not_pushed(self) -> None:
        options = parse_options(HUBSPOT, {"push": {"fields": {"band": None, "score": "hs_x"}}})
        assert options.push.fields == PushFields("hs_x", None, "tenure_last_touchpoint")

    def test_the_documented_example_is_valid(self) -> None:
        document = {
            "push": {
                "enabled": True,
                "score_threshold": 5,
                "debounce_seconds": 30,
                "fields": {
                    "score": "tenure_health_score",
                    "band": "tenure_health_band",
                    "last_touchpoint_at": "tenure_last_touchpoint",
                },
            },
            "tasks": {"mirror": True},
        }
        assert option_problems(HUBSPOT, document) == []

    def test_every_problem_is_located(self) -> None:
        problems = option_problems(
            HUBSPOT,
            {
                "push": {
                    "score_treshold": 5,
                    "score_threshold": -1,
                    "debounce_seconds": 1.5,
                    "enabled": "yes",
                    "fields": {"score": "1bad name"},
                },
                "tasks": {"mirror": 1},
                "extra": {},
            },
        )
        locations = sorted(tuple(p["loc"][2:]) for p in problems)
        assert locations == [
            ("extra",),
            ("push", "debounce_seconds"),
            ("push", "enabled"),
            ("push", "fields", "score"),
            ("push", "score_threshold"),
            ("push", "score_treshold"),
            ("tasks", "mirror"),
        ]


class TestPushProperties:
    def test_the_configured_fields_get_a_whole_score_the_band_and_a_date(self) -> None:
        values = HealthValues(71.6, "healthy", datetime(2026, 5, 3, 23, 30, tzinfo=UTC))
        assert push_properties(DEFAULT_FIELDS[HUBSPOT], values, {"lifecyclestage": "customer"}) == {
            "tenure_health_score": "72",
            "tenure_health_band": "healthy",
            "tenure_last_touchpoint": "2026-05-03",
            "lifecyclestage": "customer",
        }

    def test_unknown_values_clear_their_fields(self) -> None:
        properties = push_properties(DEFAULT_FIELDS[HUBSPOT], HealthValues(None, "no_data", None))
        assert properties["tenure_health_score"] is None
        assert properties["tenure_last_touchpoint"] is None

    def test_extra_properties_are_capped_and_named_like_crm_properties(self) -> None:
        assert extra_property_problems({"ok_name": "x", "n": 3, "b": True}) == []
        assert extra_property_problems({f"p{i}": "x" for i in range(21)})
        assert extra_property_problems({"bad name": "x"})
        assert extra_property_problems({"deep": {"a": 1}})
        assert extra_property_problems({"long": "x" * 1001})
        assert extra_property_problems(["a"])


class TestSchedule:
    def test_the_pull_goes_owners_companies_contacts(self) -> None:
        assert next_object(SyncObject.OWNERS) is SyncObject.COMPANIES
        assert next_object(SyncObject.COMPANIES) is SyncObject.CONTACTS
        assert next_object(SyncObject.CONTACTS) is None

    def test_task_states_are_read_every_five_minutes(self) -> None:
        ticks = [datetime(2026, 6, 1, 12, minute, 45, tzinfo=UTC) for minute in range(10)]
        assert [reads_due(t) for t in ticks].count(True) == 2
