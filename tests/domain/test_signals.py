"""Every signal kind on plain values, thresholds computed by hand."""

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta

import pytest

from app.domain.signal_settings import (
    DEFAULT_SETTINGS,
    GoneQuietRule,
    ScoreDropRule,
    SignalSettings,
    UsageDropRule,
)
from app.domain.signals import (
    Detection,
    Evaluation,
    ExistingSignal,
    ScoreTrend,
    Severity,
    SignalFacts,
    SignalKind,
    detect,
    gone_quiet,
    nps_detractor,
    payment_failed,
    plan,
    renewal_approaching,
    score_drop,
    stage_overdue,
    ticket_escalated,
    ticket_spike,
    usage_drop,
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


def trend(**overrides: object) -> ScoreTrend:
    base = ScoreTrend(score=72.0, band="healthy", drop_in_window=0.0, band_worsened=False)
    return replace(base, **overrides)  # type: ignore[arg-type]


class TestUsageDrop:
    def test_a_30_percent_fall_opens_at_medium(self) -> None:
        found = usage_drop(facts(usage_previous=40, usage_recent=28), S)
        assert found is not None
        assert found.severity is Severity.MEDIUM
        assert found.figures["drop_percent"] == 30.0
        assert (found.figures["recent"], found.figures["previous"]) == (28, 40)

    def test_a_fall_just_under_30_percent_does_not(self) -> None:
        assert usage_drop(facts(usage_previous=40, usage_recent=29), S) is None  # 27.5%

    def test_a_60_percent_fall_is_high(self) -> None:
        found = usage_drop(facts(usage_previous=50, usage_recent=20), S)
        assert found is not None
        assert found.severity is Severity.HIGH

    def test_a_baseline_below_the_minimum_never_opens(self) -> None:
        """19 logins falling to 0 is a small account's noise, not a signal."""
        assert usage_drop(facts(usage_previous=19, usage_recent=0), S) is None

    def test_the_minimum_baseline_is_inclusive(self) -> None:
        assert usage_drop(facts(usage_previous=20, usage_recent=0), S) is not None

    def test_a_rise_does_not_open(self) -> None:
        assert usage_drop(facts(usage_previous=40, usage_recent=80), S) is None

    def test_disabled_never_opens(self) -> None:
        settings = replace(S, usage_drop=UsageDropRule(enabled=False))
        assert usage_drop(facts(usage_previous=40, usage_recent=0), settings) is None


class TestGoneQuiet:
    def test_45_days_without_touchpoint_opens_for_a_client_without_tier(self) -> None:
        found = gone_quiet(facts(quiet_since=NOW - timedelta(days=45)), S, NOW)
        assert found is not None
        assert found.figures["days_without_touchpoint"] == 45
        assert found.figures["threshold_days"] == 45
        assert found.severity is Severity.MEDIUM

    def test_44_days_does_not(self) -> None:
        assert gone_quiet(facts(quiet_since=NOW - timedelta(days=44, hours=23)), S, NOW) is None

    def test_enterprise_clients_go_quiet_after_30_days(self) -> None:
        found = gone_quiet(facts(tier="enterprise", quiet_since=NOW - timedelta(days=30)), S, NOW)
        assert found is not None
        assert found.figures["threshold_days"] == 30

    def test_smb_clients_have_60_days(self) -> None:
        assert gone_quiet(facts(tier="smb", quiet_since=NOW - timedelta(days=59)), S, NOW) is None

    def test_a_tier_without_its_own_threshold_takes_the_default(self) -> None:
        settings = replace(S, gone_quiet=GoneQuietRule(days=20, tier_days={}))
        found = gone_quiet(facts(tier="mid", quiet_since=NOW - timedelta(days=20)), settings, NOW)
        assert found is not None
        assert found.figures["threshold_days"] == 20

    def test_twice_the_threshold_is_high(self) -> None:
        found = gone_quiet(facts(quiet_since=NOW - timedelta(days=90)), S, NOW)
        assert found is not None
        assert found.severity is Severity.HIGH

    def test_figures_name_the_last_touchpoint(self) -> None:
        last = NOW - timedelta(days=50)
        found = gone_quiet(facts(last_touchpoint_at=last, quiet_since=last), S, NOW)
        assert found is not None
        assert found.figures["last_touchpoint_at"] == last.isoformat()


class TestTicketSpike:
    def test_three_tickets_in_a_week_with_no_history_open(self) -> None:
        found = ticket_spike(facts(tickets_recent=3, tickets_baseline=0), S)
        assert found is not None
        assert found.figures == {"window_days": 7, "opened": 3, "usual": 0.0, "threshold": 3}

    def test_two_tickets_do_not(self) -> None:
        assert ticket_spike(facts(tickets_recent=2), S) is None

    def test_a_busy_client_needs_twice_its_usual_rate(self) -> None:
        # 16 tickets in 28 days = 4 a week; twice that is 8.
        assert ticket_spike(facts(tickets_recent=7, tickets_baseline=16), S) is None
        found = ticket_spike(facts(tickets_recent=8, tickets_baseline=16), S)
        assert found is not None
        assert found.figures["usual"] == 4.0

    def test_twice_the_threshold_is_high(self) -> None:
        found = ticket_spike(facts(tickets_recent=6), S)
        assert found is not None
        assert found.severity is Severity.HIGH


class TestTicketEscalated:
    def test_an_unresolved_escalation_opens_high(self) -> None:
        at = NOW - timedelta(days=2)
        found = ticket_escalated(facts(escalated_open=1, last_escalated_at=at), S)
        assert found is not None
        assert found.severity is Severity.HIGH
        assert found.figures["open_escalated_tickets"] == 1
        assert found.figures["last_escalated_at"] == at.isoformat()

    def test_none_open_does_not(self) -> None:
        assert ticket_escalated(facts(escalated_open=0), S) is None


class TestNpsDetractor:
    def test_a_6_is_a_detractor(self) -> None:
        found = nps_detractor(facts(nps_score=6, nps_at=NOW - timedelta(days=3)), S, NOW)
        assert found is not None
        assert found.severity is Severity.MEDIUM
        assert found.figures["score"] == 6

    def test_a_7_is_not(self) -> None:
        assert nps_detractor(facts(nps_score=7, nps_at=NOW), S, NOW) is None

    def test_0_to_3_is_high(self) -> None:
        found = nps_detractor(facts(nps_score=3, nps_at=NOW), S, NOW)
        assert found is not None
        assert found.severity is Severity.HIGH

    def test_an_answer_older_than_180_days_no_longer_counts(self) -> None:
        old = NOW - timedelta(days=181)
        assert nps_detractor(facts(nps_score=0, nps_at=old), S, NOW) is None
        assert nps_detractor(facts(nps_score=0, nps_at=NOW - timedelta(days=180)), S, NOW)


class TestPaymentFailed:
    def test_one_failure_is_medium_two_are_high(self) -> None:
        one = payment_failed(facts(payments_failed=1, last_payment_failed_at=NOW), S)
        two = payment_failed(facts(payments_failed=2, last_payment_failed_at=NOW), S)
        assert one is not None
        assert one.severity is Severity.MEDIUM
        assert two is not None
        assert two.severity is Severity.HIGH
        assert two.figures["failures"] == 2

    def test_no_failure_in_the_lookback_does_not_open(self) -> None:
        assert payment_failed(facts(payments_failed=0), S) is None


class TestRenewalApproaching:
    @pytest.mark.parametrize(
        ("days_left", "severity"),
        [
            (91, None),
            (90, Severity.LOW),
            (61, Severity.LOW),
            (60, Severity.MEDIUM),
            (31, Severity.MEDIUM),
            (30, Severity.HIGH),
            (0, Severity.HIGH),
            (-1, None),
        ],
    )
    def test_severity_follows_proximity(self, days_left: int, severity: Severity | None) -> None:
        renews_on = date(2026, 11, 22) + timedelta(days=days_left)
        found = renewal_approaching(facts(renews_on=renews_on), S, NOW)
        assert (found.severity if found else None) is severity
        if found is not None:
            assert found.figures == {"renews_on": renews_on.isoformat(), "days_left": days_left}

    def test_no_contract_end_does_not_open(self) -> None:
        assert renewal_approaching(facts(renews_on=None), S, NOW) is None


class TestScoreDrop:
    def test_a_fall_of_15_points_opens(self) -> None:
        found = score_drop(trend(score=55, band="neutral", drop_in_window=15), None, S)
        assert found is not None
        assert found.severity is Severity.MEDIUM
        assert found.figures == {
            "score": 55,
            "band": "neutral",
            "drop_points": 15,
            "band_worsened": False,
        }

    def test_a_fall_of_14_9_points_in_the_same_band_does_not(self) -> None:
        assert score_drop(trend(drop_in_window=14.9), None, S) is None

    def test_a_worse_band_opens_whatever_the_fall(self) -> None:
        found = score_drop(trend(score=69.5, band="neutral", band_worsened=True), None, S)
        assert found is not None
        assert found.figures["band_worsened"] is True

    def test_a_fall_of_30_points_is_high(self) -> None:
        found = score_drop(trend(drop_in_window=30), None, S)
        assert found is not None
        assert found.severity is Severity.HIGH

    def test_holds_while_the_client_stays_in_the_band_it_fell_into(self) -> None:
        assert score_drop(trend(band="neutral"), "neutral", S) is not None

    def test_clears_once_the_band_changes(self) -> None:
        assert score_drop(trend(band="healthy"), "neutral", S) is None

    def test_band_worsening_may_be_switched_off(self) -> None:
        settings = replace(S, score_drop=ScoreDropRule(on_band_worsened=False))
        assert score_drop(trend(band="neutral", band_worsened=True), None, settings) is None


class TestStageOverdue:
    def test_31_days_in_onboarding_is_overdue(self) -> None:
        found = stage_overdue(
            facts(stage="onboarding", stage_since=NOW - timedelta(days=31)), S, NOW
        )
        assert found is not None
        assert found.figures == {"stage": "onboarding", "days_in_stage": 31, "expected_days": 30}
        assert found.severity is Severity.MEDIUM

    def test_exactly_the_expected_time_is_not(self) -> None:
        since = NOW - timedelta(days=30)
        assert stage_overdue(facts(stage="onboarding", stage_since=since), S, NOW) is None

    def test_a_stage_without_an_expected_time_never_is(self) -> None:
        since = NOW - timedelta(days=3000)
        assert stage_overdue(facts(stage="adoption", stage_since=since), S, NOW) is None

    def test_twice_the_expected_time_is_high(self) -> None:
        since = NOW - timedelta(days=120)
        found = stage_overdue(facts(stage="first_value", stage_since=since), S, NOW)
        assert found is not None
        assert found.severity is Severity.HIGH


class TestDetect:
    def test_collects_every_kind_that_holds(self) -> None:
        result = detect(
            facts(payments_failed=1, renews_on=date(2026, 12, 1)),
            trend(drop_in_window=20),
            S,
            NOW,
        )
        assert set(result.holding) == {
            SignalKind.PAYMENT_FAILED,
            SignalKind.RENEWAL_APPROACHING,
            SignalKind.SCORE_DROP,
        }
        assert result.evaluated == frozenset(SignalKind)

    def test_without_a_trend_score_drop_is_not_evaluated(self) -> None:
        result = detect(facts(), None, S, NOW)
        assert SignalKind.SCORE_DROP not in result.evaluated
        assert len(result.evaluated) == len(SignalKind) - 1

    def test_a_churned_client_shows_nothing(self) -> None:
        result = detect(facts(active=False, payments_failed=3), trend(drop_in_window=50), S, NOW)
        assert result.holding == {}
        assert result.evaluated == frozenset(SignalKind)

    def test_default_settings_hold_nothing_for_a_quiet_healthy_client(self) -> None:
        assert detect(facts(), trend(), SignalSettings(), NOW).holding == {}


def existing(
    kind: SignalKind, severity: Severity = Severity.MEDIUM, **figures: object
) -> ExistingSignal:
    return ExistingSignal(uuid.uuid4(), kind, severity, dict(figures))


class TestPlan:
    CLIENT = uuid.UUID(int=1)

    def evaluation(
        self, *holding: Detection, evaluated: frozenset[SignalKind] | None = None
    ) -> Evaluation:
        return Evaluation(
            self.CLIENT,
            frozenset(SignalKind) if evaluated is None else evaluated,
            {d.kind: d for d in holding},
        )

    def test_a_new_condition_opens(self) -> None:
        detection = Detection(SignalKind.PAYMENT_FAILED, Severity.MEDIUM, {"failures": 1})
        result = plan(self.evaluation(detection), {})
        assert result.to_open == [detection]
        assert result.to_refresh == []
        assert result.to_resolve == []

    def test_a_held_condition_with_the_same_figures_changes_nothing(self) -> None:
        held = existing(SignalKind.PAYMENT_FAILED, failures=1)
        detection = Detection(SignalKind.PAYMENT_FAILED, Severity.MEDIUM, {"failures": 1})
        result = plan(self.evaluation(detection), {held.kind: held})
        assert (result.to_open, result.to_refresh, result.to_resolve) == ([], [], [])

    def test_a_held_condition_with_new_figures_is_refreshed_not_reopened(self) -> None:
        held = existing(SignalKind.RENEWAL_APPROACHING, Severity.LOW, days_left=61)
        detection = Detection(SignalKind.RENEWAL_APPROACHING, Severity.MEDIUM, {"days_left": 60})
        result = plan(self.evaluation(detection), {held.kind: held})
        assert result.to_open == []
        assert result.to_refresh == [(held.id, detection)]

    def test_a_cleared_condition_resolves(self) -> None:
        held = existing(SignalKind.GONE_QUIET)
        result = plan(self.evaluation(), {held.kind: held})
        assert result.to_resolve == [held]

    def test_a_kind_not_evaluated_is_left_alone(self) -> None:
        held = existing(SignalKind.SCORE_DROP)
        evaluated = frozenset(SignalKind) - {SignalKind.SCORE_DROP}
        result = plan(self.evaluation(evaluated=evaluated), {held.kind: held})
        assert (result.to_open, result.to_refresh, result.to_resolve) == ([], [], [])
