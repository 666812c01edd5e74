"""The trigger rules on plain values: definitions, what wakes a trigger, and the control
policy (debounce, re-entry, cooldown, the cap, the holdout)."""

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.domain.actions import check_text
from app.domain.client_changes import ClientField, watched_changes
from app.domain.triggers import (
    Control,
    DefinitionInvalid,
    Outcome,
    Reentry,
    RunHistory,
    Tally,
    Wake,
    When,
    WhenKind,
    decide,
    held_back_since,
    held_out,
    holdout_bucket,
    merge_wakes,
    parse_definition,
)

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
TRIGGER = uuid.UUID(int=1)
CLIENT = uuid.UUID(int=2)


def _title_only(params: Mapping[str, Any]) -> list[str]:
    return check_text(params, "title", 200, required=True)


CHECKS = {"create_task": _title_only}


def decision(
    control: Control,
    history: RunHistory = RunHistory(),
    *,
    tally: Tally | None = None,
    now: datetime = NOW,
    debounce: bool = True,
) -> Outcome:
    tally = tally or Tally(cap=3)
    return decide(control, history, tally, TRIGGER, CLIENT, now, debounce=debounce).outcome


class TestDefinition:
    def test_the_canonical_document_reads_back_equal(self) -> None:
        document = {
            "when": {"kind": "signal.opened", "signal_kinds": ["gone_quiet", "custom.vip_left"]},
            "condition": {"field": "tier", "op": "in", "value": ["mid", "smb"]},
            "actions": [{"kind": "create_task", "params": {"title": "Call"}, "delay_seconds": 60}],
            "control": {"reentry": "every_time", "holdout_percent": 12.5},
        }
        definition = parse_definition(document, CHECKS)
        canonical = definition.document()
        assert parse_definition(canonical, CHECKS).document() == canonical
        assert canonical["control"] == {
            "cooldown_hours": 24,
            "reentry": "every_time",
            "debounce_seconds": 60,
            "holdout_percent": 12.5,
        }

    def test_every_problem_is_reported_with_its_pointer(self) -> None:
        document = {
            "when": {"kind": "client.changed", "fields": ["stage", "mood"]},
            "condition": {"field": "tier", "op": "eq"},
            "actions": [{"kind": "create_task", "params": {}}, {"kind": "fax"}],
            "control": {"cooldown_hours": -1, "debounce_seconds": 1.5},
            "then": [],
        }
        with pytest.raises(DefinitionInvalid) as caught:
            parse_definition(document, CHECKS)
        pointers = [p.pointer for p in caught.value.problems]
        assert "" in pointers  # `then` is not a member
        assert "/when/fields/1" in pointers
        assert any(p.startswith("/condition") for p in pointers)
        assert "/actions/0/params" in pointers
        assert "/actions/1/kind" in pointers
        assert "/control/cooldown_hours" in pointers
        assert "/control/debounce_seconds" in pointers

    def test_a_member_of_another_kind_is_refused(self) -> None:
        document = {"when": {"kind": "health.changed", "cron": "* * * * *"}}
        with pytest.raises(DefinitionInvalid) as caught:
            parse_definition(document, CHECKS)
        assert caught.value.problems[0].pointer == "/when"

    def test_an_unknown_signal_kind_is_refused(self) -> None:
        document = {"when": {"kind": "signal.opened", "signal_kinds": ["bad_vibes"]}}
        with pytest.raises(DefinitionInvalid) as caught:
            parse_definition(document, CHECKS)
        assert caught.value.problems[0].pointer == "/when/signal_kinds/0"


class TestWhen:
    def test_a_band_change_is_a_move_into_the_named_band(self) -> None:
        when = When(WhenKind.HEALTH_BAND_CHANGED, to_bands=("at_risk",))
        assert when.admits(Wake(CLIENT, band_from="neutral", band_to="at_risk"))
        assert not when.admits(Wake(CLIENT, band_from="at_risk", band_to="at_risk"))
        assert not when.admits(Wake(CLIENT, band_from="at_risk", band_to="neutral"))
        assert not when.admits(Wake(CLIENT, band_from=None, band_to="at_risk"))  # a first score

    def test_from_narrows_where_the_move_started(self) -> None:
        when = When(WhenKind.HEALTH_BAND_CHANGED, from_bands=("healthy",))
        assert when.admits(Wake(CLIENT, band_from="healthy", band_to="at_risk"))
        assert not when.admits(Wake(CLIENT, band_from="neutral", band_to="at_risk"))

    def test_client_changed_watches_the_named_fields_or_all(self) -> None:
        stage = Wake(CLIENT, fields=("stage",))
        assert When(WhenKind.CLIENT_CHANGED).admits(stage)
        assert When(WhenKind.CLIENT_CHANGED, fields=(ClientField.STAGE,)).admits(stage)
        assert not When(WhenKind.CLIENT_CHANGED, fields=(ClientField.TIER,)).admits(stage)

    def test_signals_and_events_filter_by_kind_and_type(self) -> None:
        opened = When(WhenKind.SIGNAL_OPENED, signal_kinds=("gone_quiet",))
        assert opened.admits(Wake(CLIENT, signal_kind="gone_quiet"))
        assert not opened.admits(Wake(CLIENT, signal_kind="usage_drop"))
        events = When(WhenKind.EVENT_INGESTED, event_types=("nps",))
        assert events.admits(Wake(CLIENT, event_types=("nps",)))
        assert not events.admits(Wake(CLIENT, event_types=("login",)))

    def test_a_client_is_woken_once_with_its_first_admitted_wake(self) -> None:
        when = When(WhenKind.SIGNAL_OPENED, signal_kinds=("gone_quiet",))
        signal = uuid.uuid4()
        wakes = [
            Wake(CLIENT, signal_kind="usage_drop"),
            Wake(CLIENT, signal_id=signal, signal_kind="gone_quiet"),
            Wake(CLIENT, signal_kind="gone_quiet"),
        ]
        assert merge_wakes(when, wakes) == {CLIENT: wakes[1]}

    def test_watched_changes_are_stage_tier_owner_and_status(self) -> None:
        owner = uuid.uuid4()
        before = {"lifecycle_stage": "onboarding", "tier": "mid", "owner_id": None, "name": "A"}
        after = {"lifecycle_stage": "adoption", "tier": "mid", "owner_id": owner, "name": "B"}
        assert watched_changes(before, after) == [
            (ClientField.STAGE, "onboarding", "adoption"),
            (ClientField.OWNER, None, str(owner)),
        ]


class TestDebounce:
    def test_a_burst_fires_once_at_its_first_change(self) -> None:
        control = Control(reentry=Reentry.EVERY_TIME, debounce_seconds=60)
        assert decision(control) is Outcome.FIRED
        burst = RunHistory(last_decided_at=NOW - timedelta(seconds=10), last_fired_at=NOW)
        assert decision(control, burst) is Outcome.DEBOUNCED

    def test_every_change_of_the_burst_extends_the_quiet(self) -> None:
        """The last decision (even a debounced one) counts, not the firing."""
        control = Control(reentry=Reentry.EVERY_TIME, debounce_seconds=60)
        history = RunHistory(
            last_decided_at=NOW - timedelta(seconds=30), last_fired_at=NOW - timedelta(hours=1)
        )
        assert decision(control, history) is Outcome.DEBOUNCED

    def test_after_the_quiet_it_fires_again(self) -> None:
        control = Control(reentry=Reentry.EVERY_TIME, debounce_seconds=60)
        history = RunHistory(
            last_decided_at=NOW - timedelta(seconds=61), last_fired_at=NOW - timedelta(seconds=61)
        )
        assert decision(control, history) is Outcome.FIRED

    def test_schedules_are_not_debounced(self) -> None:
        control = Control(reentry=Reentry.EVERY_TIME, debounce_seconds=3600)
        history = RunHistory(last_decided_at=NOW - timedelta(seconds=60))
        assert decision(control, history, debounce=False) is Outcome.FIRED


class TestReentry:
    def test_once_ever_never_fires_again(self) -> None:
        control = Control(reentry=Reentry.ONCE_EVER, debounce_seconds=0)
        history = RunHistory(NOW - timedelta(days=400), NOW - timedelta(days=400))
        assert decision(control, history) is Outcome.ALREADY_FIRED

    def test_once_per_cooldown_waits_out_the_cooldown(self) -> None:
        control = Control(cooldown_hours=24, debounce_seconds=0)
        recent = RunHistory(NOW - timedelta(hours=23), NOW - timedelta(hours=23))
        assert decision(control, recent) is Outcome.COOLED_DOWN
        old = RunHistory(NOW - timedelta(hours=24), NOW - timedelta(hours=24))
        assert decision(control, old) is Outcome.FIRED

    def test_the_cooldown_counts_from_the_last_firing_not_the_last_decision(self) -> None:
        control = Control(cooldown_hours=24, debounce_seconds=0)
        history = RunHistory(NOW - timedelta(minutes=5), NOW - timedelta(hours=25))
        assert decision(control, history) is Outcome.FIRED

    def test_every_time_ignores_the_cooldown(self) -> None:
        control = Control(cooldown_hours=24, reentry=Reentry.EVERY_TIME, debounce_seconds=0)
        history = RunHistory(NOW - timedelta(hours=1), NOW - timedelta(hours=1))
        assert decision(control, history) is Outcome.FIRED


class TestReentryAsABound:
    """A schedule's sweep filters re-entry in SQL by `held_back_since`: it must hold back
    exactly the clients `decide` holds back by re-entry."""

    @pytest.mark.parametrize("reentry", list(Reentry))
    def test_agrees_with_decide_for_every_last_firing(self, reentry: Reentry) -> None:
        control = Control(reentry=reentry, cooldown_hours=24, debounce_seconds=0)
        bound = held_back_since(control, NOW)
        for hours in (None, 0.5, 23.9, 24, 24.1, 1000, 100_000):
            last = None if hours is None else NOW - timedelta(hours=hours)
            history = RunHistory(last, last)
            outcome = decision(control, history, debounce=False)
            held = outcome in (Outcome.ALREADY_FIRED, Outcome.COOLED_DOWN)
            by_bound = bound is not None and last is not None and last > bound
            assert held == by_bound, (reentry, hours, outcome)


class TestCap:
    def test_the_cap_counts_firings_across_the_evaluation(self) -> None:
        tally = Tally(cap=2, fired={CLIENT: 1})
        control = Control(reentry=Reentry.EVERY_TIME, debounce_seconds=0)
        assert decision(control, tally=tally) is Outcome.FIRED
        assert tally.fired[CLIENT] == 2
        assert decision(control, tally=tally) is Outcome.CAPPED

    def test_held_out_runs_do_not_count_toward_the_cap(self) -> None:
        everyone = Control(holdout_percent=100, debounce_seconds=0)
        tally = Tally(cap=1)
        assert decision(everyone, tally=tally) is Outcome.HELD_OUT
        assert tally.fired == {}

    def test_a_capped_client_is_capped_before_the_holdout_draws(self) -> None:
        everyone = Control(holdout_percent=100, debounce_seconds=0)
        assert decision(everyone, tally=Tally(cap=1, fired={CLIENT: 1})) is Outcome.CAPPED


class TestHoldout:
    def test_the_same_client_lands_on_the_same_side_every_time(self) -> None:
        clients = [uuid.uuid4() for _ in range(200)]
        first = [held_out(TRIGGER, c, 30) for c in clients]
        assert first == [held_out(TRIGGER, c, 30) for c in clients]

    def test_the_share_held_out_is_close_to_the_percentage(self) -> None:
        clients = [uuid.UUID(int=i * 7919 + 11) for i in range(20_000)]
        for percent in (5, 10, 50):
            share = sum(held_out(TRIGGER, c, percent) for c in clients) / len(clients) * 100
            assert abs(share - percent) < 1.0, (percent, share)

    def test_each_trigger_draws_its_own_group(self) -> None:
        clients = [uuid.UUID(int=i) for i in range(2_000)]
        one = {c for c in clients if held_out(uuid.UUID(int=1), c, 50)}
        two = {c for c in clients if held_out(uuid.UUID(int=2), c, 50)}
        assert one != two

    def test_buckets_lie_in_zero_to_a_hundred(self) -> None:
        buckets = [holdout_bucket(TRIGGER, uuid.uuid4()) for _ in range(1_000)]
        assert all(0 <= b < 100 for b in buckets)

    def test_zero_holds_no_one_out_and_a_hundred_everyone(self) -> None:
        clients = [uuid.uuid4() for _ in range(500)]
        assert not any(held_out(TRIGGER, c, 0) for c in clients)
        assert all(held_out(TRIGGER, c, 100) for c in clients)

    def test_a_held_out_client_is_recorded_as_such(self) -> None:
        control = Control(holdout_percent=100, debounce_seconds=0)
        result = decide(control, RunHistory(), Tally(cap=3), TRIGGER, CLIENT, NOW)
        assert result.holdout
        assert result.outcome is Outcome.HELD_OUT
