"""The outreach and spend kinds on plain values: response_slowdown, spend_drop,
engagement_drop, thresholds computed by hand."""

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from app.domain.signal_settings import (
    DEFAULT_SETTINGS,
    EngagementDropRule,
    ResponseSlowdownRule,
    SpendDropRule,
)
from app.domain.signals import (
    Severity,
    SignalFacts,
    SignalKind,
    detect,
    engagement_drop,
    response_slowdown,
    spend_drop,
)

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
S = DEFAULT_SETTINGS


def facts(**overrides: object) -> SignalFacts:
    base = SignalFacts(
        client_id=uuid.UUID(int=1),
        active=True,
        tier=None,
        stage="adoption",
        stage_since=NOW - timedelta(days=400),
        last_touchpoint_at=NOW - timedelta(days=1),
        quiet_since=NOW - timedelta(days=1),
    )
    return replace(base, **overrides)  # type: ignore[arg-type]


def replies(
    recent_hours: float | None, baseline_hours: float | None, **more: object
) -> SignalFacts:
    """Enough timed replies in both periods, with the given medians."""
    fields: dict[str, object] = {
        "replies_recent": 3,
        "replies_baseline": 3,
        "reply_hours_recent": recent_hours,
        "reply_hours_baseline": baseline_hours,
    }
    return facts(**{**fields, **more})


class TestResponseSlowdown:
    def test_replies_twice_as_slow_open_at_medium_with_both_medians(self) -> None:
        found = response_slowdown(replies(48.0, 24.0), S)
        assert found is not None
        assert found.kind is SignalKind.RESPONSE_SLOWDOWN
        assert found.severity is Severity.MEDIUM
        assert found.figures == {
            "slower": True,
            "silent": False,
            "window_days": 30,
            "baseline_days": 90,
            "recent_replies": 3,
            "baseline_replies": 3,
            "recent_median_hours": 48,
            "baseline_median_hours": 24,
            "ratio": 2.0,
            "unanswered_outreaches": 0,
            "last_reply_at": None,
        }

    def test_just_under_twice_as_slow_does_not(self) -> None:
        assert response_slowdown(replies(47.9, 24.0), S) is None

    def test_four_times_as_slow_is_high(self) -> None:
        found = response_slowdown(replies(96.0, 24.0), S)
        assert found is not None
        assert found.severity is Severity.HIGH

    @pytest.mark.parametrize(("recent", "baseline"), [(2, 3), (3, 2), (0, 10)])
    def test_fewer_than_three_timed_replies_in_a_period_never_compare(
        self, recent: int, baseline: int
    ) -> None:
        facts_ = replies(200.0, 10.0, replies_recent=recent, replies_baseline=baseline)
        assert response_slowdown(facts_, S) is None

    def test_the_minimum_of_timed_replies_may_be_raised(self) -> None:
        settings = replace(S, response_slowdown=ResponseSlowdownRule(min_pairs=5))
        assert response_slowdown(replies(200.0, 10.0), settings) is None

    def test_a_recent_median_under_a_day_is_not_slow_whatever_the_ratio(self) -> None:
        """20 minutes against 2 is ten times slower and still a prompt answer."""
        assert response_slowdown(replies(23.9, 0.3), S) is None
        assert response_slowdown(replies(24.0, 0.3), S) is not None

    def test_an_instant_baseline_makes_any_slow_median_high_without_a_ratio(self) -> None:
        found = response_slowdown(replies(30.0, 0.0), S)
        assert found is not None
        assert found.severity is Severity.HIGH
        assert found.figures["ratio"] is None
        assert found.figures["baseline_median_hours"] == 0

    def test_three_unanswered_outreaches_open_without_any_timing(self) -> None:
        last = NOW - timedelta(days=20)
        found = response_slowdown(facts(unanswered_outreaches=3, last_reply_at=last), S)
        assert found is not None
        assert found.severity is Severity.MEDIUM
        assert (found.figures["slower"], found.figures["silent"]) == (False, True)
        assert found.figures["unanswered_outreaches"] == 3
        assert found.figures["last_reply_at"] == last.isoformat()
        assert found.figures["recent_median_hours"] is None

    def test_two_unanswered_outreaches_do_not(self) -> None:
        assert response_slowdown(facts(unanswered_outreaches=2), S) is None

    def test_six_unanswered_outreaches_are_high(self) -> None:
        found = response_slowdown(facts(unanswered_outreaches=6), S)
        assert found is not None
        assert found.severity is Severity.HIGH

    def test_slower_and_silent_both_show(self) -> None:
        found = response_slowdown(replies(50.0, 10.0, unanswered_outreaches=4), S)
        assert found is not None
        assert (found.figures["slower"], found.figures["silent"]) == (True, True)
        assert found.figures["ratio"] == 5.0

    def test_the_ratio_shows_when_only_silence_holds(self) -> None:
        found = response_slowdown(replies(30.0, 20.0, unanswered_outreaches=3), S)
        assert found is not None
        assert (found.figures["slower"], found.figures["ratio"]) == (False, 1.5)

    def test_faster_replies_do_not_open(self) -> None:
        assert response_slowdown(replies(10.0, 40.0), S) is None

    def test_disabled_never_opens(self) -> None:
        settings = replace(S, response_slowdown=ResponseSlowdownRule(enabled=False))
        assert response_slowdown(replies(500.0, 1.0, unanswered_outreaches=9), settings) is None


def spending(recent: float, baseline: float, orders: int = 9, **more: object) -> SignalFacts:
    return facts(
        spend_recent=recent,
        spend_baseline=baseline,
        orders_recent=more.pop("orders_recent", 2),
        orders_baseline=orders,
        **more,
    )


class TestSpendDrop:
    def test_30_percent_under_the_usual_30_days_opens_at_medium(self) -> None:
        # 900 over 90 days is 300 a month; 210 is 30% under it.
        found = spend_drop(spending(210.0, 900.0), S)
        assert found is not None
        assert found.kind is SignalKind.SPEND_DROP
        assert found.severity is Severity.MEDIUM
        assert found.figures == {
            "window_days": 30,
            "baseline_days": 90,
            "recent_value": 210.0,
            "usual_value": 300.0,
            "recent_orders": 2,
            "baseline_orders": 9,
            "drop_percent": 30.0,
        }

    def test_just_under_30_percent_does_not(self) -> None:
        assert spend_drop(spending(210.5, 900.0), S) is None

    def test_60_percent_is_high(self) -> None:
        found = spend_drop(spending(120.0, 900.0), S)
        assert found is not None
        assert found.severity is Severity.HIGH

    def test_no_orders_at_all_is_a_full_drop(self) -> None:
        found = spend_drop(spending(0.0, 900.0, orders_recent=0), S)
        assert found is not None
        assert found.figures["drop_percent"] == 100.0

    def test_a_baseline_of_five_orders_never_opens(self) -> None:
        """A client ordering about monthly would flap with the calendar."""
        assert spend_drop(spending(0.0, 900.0, orders=5), S) is None
        assert spend_drop(spending(0.0, 900.0, orders=6), S) is not None

    def test_a_minimum_baseline_value_keeps_small_clients_out(self) -> None:
        settings = replace(S, spend_drop=SpendDropRule(min_baseline_value=1000.0))
        assert spend_drop(spending(0.0, 999.0), settings) is None
        assert spend_drop(spending(0.0, 1000.0), settings) is not None

    def test_orders_worth_nothing_never_open(self) -> None:
        assert spend_drop(spending(0.0, 0.0), S) is None

    def test_a_rise_does_not_open(self) -> None:
        assert spend_drop(spending(900.0, 900.0), S) is None

    def test_other_periods_scale_the_usual(self) -> None:
        settings = replace(S, spend_drop=SpendDropRule(window_days=7, baseline_days=28))
        found = spend_drop(spending(50.0, 400.0), settings)  # usual 100 a week
        assert found is not None
        assert found.figures["usual_value"] == 100.0
        assert found.figures["drop_percent"] == 50.0

    def test_disabled_never_opens(self) -> None:
        settings = replace(S, spend_drop=SpendDropRule(enabled=False))
        assert spend_drop(spending(0.0, 900.0), settings) is None


class TestEngagementDrop:
    def test_half_the_usual_clicks_and_replies_open_at_medium(self) -> None:
        # 30 over 90 days is 10 a month; 5 is half.
        found = engagement_drop(facts(engagement_recent=5, engagement_baseline=30), S)
        assert found is not None
        assert found.kind is SignalKind.ENGAGEMENT_DROP
        assert found.severity is Severity.MEDIUM
        assert found.figures == {
            "event_types": ["email_clicked", "email_replied"],
            "window_days": 30,
            "baseline_days": 90,
            "recent": 5,
            "baseline": 30,
            "usual": 10.0,
            "drop_percent": 50.0,
        }

    def test_a_smaller_fall_does_not(self) -> None:
        assert engagement_drop(facts(engagement_recent=6, engagement_baseline=30), S) is None

    def test_an_80_percent_fall_is_high(self) -> None:
        found = engagement_drop(facts(engagement_recent=2, engagement_baseline=30), S)
        assert found is not None
        assert found.severity is Severity.HIGH

    def test_a_baseline_below_15_never_opens(self) -> None:
        assert engagement_drop(facts(engagement_recent=0, engagement_baseline=14), S) is None
        assert engagement_drop(facts(engagement_recent=0, engagement_baseline=15), S) is not None

    def test_a_rise_does_not_open(self) -> None:
        assert engagement_drop(facts(engagement_recent=40, engagement_baseline=30), S) is None

    def test_disabled_never_opens(self) -> None:
        settings = replace(S, engagement_drop=EngagementDropRule(enabled=False))
        assert engagement_drop(facts(engagement_baseline=90), settings) is None


class TestDetect:
    def test_the_three_kinds_are_evaluated_and_held_together(self) -> None:
        found = detect(
            facts(
                unanswered_outreaches=3,
                orders_baseline=9,
                spend_baseline=900.0,
                engagement_baseline=30,
            ),
            None,
            S,
            NOW,
        )
        assert {
            SignalKind.RESPONSE_SLOWDOWN,
            SignalKind.SPEND_DROP,
            SignalKind.ENGAGEMENT_DROP,
        } <= found.evaluated
        assert set(found.holding) == {
            SignalKind.RESPONSE_SLOWDOWN,
            SignalKind.SPEND_DROP,
            SignalKind.ENGAGEMENT_DROP,
        }

    def test_a_churned_client_holds_none_of_them(self) -> None:
        found = detect(
            facts(active=False, unanswered_outreaches=9, orders_baseline=9, spend_baseline=9.0),
            None,
            S,
            NOW,
        )
        assert found.holding == {}
