"""The cadence clock and the rules of a cadence definition, on plain values."""

from datetime import UTC, datetime, timedelta

import pytest

from app.domain.actions import ActionSpec
from app.domain.cadences import (
    CHANNELS,
    CadenceDefinition,
    CadenceKind,
    Clock,
    ExitReason,
    ExitRules,
    Observed,
    Step,
    advance,
    cadence_document,
    default_cadences,
    definition_problems,
    last_qualifying,
    settle,
    start,
    touch_base_step,
)

T0 = datetime(2026, 1, 1, 9, tzinfo=UTC)
KNOWN = ("create_task", "set_fields", "send_email")


def days(n: float) -> timedelta:
    return timedelta(days=n)


def rhythm(interval: int = 30, *offsets: int) -> CadenceDefinition:
    steps = tuple(
        Step(o, ActionSpec("create_task", {"title": f"step at {o}"})) for o in offsets
    ) or (touch_base_step(interval),)
    return CadenceDefinition("Mid", CadenceKind.RHYTHM, steps, tier="mid", interval_days=interval)


def sequence(*offsets: int, exits: ExitRules | None = None) -> CadenceDefinition:
    steps = tuple(Step(o, ActionSpec("send_email", {"template": f"day {o}"})) for o in offsets)
    return CadenceDefinition("Outreach", CadenceKind.SEQUENCE, steps, exits=exits)


def clock_of(cadence: CadenceDefinition, touched: datetime | None = None) -> Clock:
    return start(cadence.kind, cadence.steps, T0, touched)


class TestStart:
    def test_a_rhythm_counts_from_the_last_qualifying_touchpoint(self) -> None:
        clock = clock_of(rhythm(30), touched=T0 - days(10))
        assert (clock.anchor_at, clock.next_step, clock.next_due_at) == (
            T0 - days(10),
            0,
            T0 + days(20),
        )

    def test_a_rhythm_without_a_touchpoint_counts_from_the_enrolment(self) -> None:
        assert clock_of(rhythm(30)).next_due_at == T0 + days(30)

    def test_a_sequence_counts_from_the_enrolment_whatever_was_touched(self) -> None:
        clock = clock_of(sequence(0, 3), touched=T0 - days(1))
        assert (clock.anchor_at, clock.next_due_at) == (T0, T0)


class TestDueSteps:
    def test_nothing_is_due_before_the_offset(self) -> None:
        cadence = rhythm(30)
        decision = advance(cadence, T0, clock_of(cadence), Observed(), T0 + days(29))
        assert decision.fire is None
        assert decision.clock == clock_of(cadence)

    def test_the_step_falls_due_at_its_offset_and_the_next_cycle_follows(self) -> None:
        cadence = rhythm(30)
        now = T0 + days(30)
        decision = advance(cadence, T0, clock_of(cadence), Observed(), now)
        assert decision.fire == 0
        assert decision.exit is None
        assert decision.clock.next_step == 0
        assert decision.clock.next_due_at == now + days(30)

    def test_a_task_step_pauses_the_clock_when_it_fires(self) -> None:
        cadence = rhythm(30)
        now = T0 + days(30)
        assert advance(cadence, T0, clock_of(cadence), Observed(), now).clock.paused_at == now

    def test_several_steps_keep_their_spacing_from_when_the_previous_ran(self) -> None:
        cadence = sequence(0, 3, 10)
        late = T0 + days(1)  # the tick ran a day late
        first = advance(cadence, T0, clock_of(cadence), Observed(), late)
        assert (first.fire, first.clock.next_step, first.clock.next_due_at) == (
            0,
            1,
            late + days(3),
        )

    def test_only_one_step_fires_per_tick_even_when_several_are_overdue(self) -> None:
        cadence = sequence(0, 1, 2)
        decision = advance(cadence, T0, clock_of(cadence), Observed(), T0 + days(30))
        assert decision.fire == 0
        assert decision.clock.next_step == 1

    def test_a_rhythm_with_several_steps_keeps_cycles_one_interval_long(self) -> None:
        cadence = rhythm(30, 30, 37)
        clock = Clock(T0, 1, T0 + days(37))
        decision = advance(cadence, T0, clock, Observed(), T0 + days(37))
        assert decision.fire == 1
        assert (decision.clock.next_step, decision.clock.next_due_at) == (0, T0 + days(60))

    def test_a_sequence_ends_after_its_last_step(self) -> None:
        cadence = sequence(0, 3)
        clock = Clock(T0, 1, T0 + days(3))
        decision = advance(cadence, T0, clock, Observed(), T0 + days(3))
        assert (decision.fire, decision.exit) == (1, ExitReason.COMPLETED)


class TestReset:
    def test_a_qualifying_touchpoint_after_the_anchor_resets_to_step_zero(self) -> None:
        cadence = rhythm(30, 20, 30)
        clock = Clock(T0, 1, T0 + days(30))
        touched = T0 + days(25)
        decision = advance(cadence, T0, clock, Observed(last_touchpoint_at=touched), T0 + days(30))
        assert decision.reset
        assert decision.fire is None
        assert decision.clock == Clock(touched, 0, touched + days(20))

    def test_a_touchpoint_logged_between_ticks_resets_before_the_step_falls_due(self) -> None:
        cadence = rhythm(30)
        touched = T0 + days(30) - timedelta(hours=1)
        decision = advance(
            cadence, T0, clock_of(cadence), Observed(last_touchpoint_at=touched), T0 + days(30)
        )
        assert decision.fire is None
        assert decision.clock.next_due_at == touched + days(30)

    def test_the_anchor_touchpoint_itself_does_not_reset_again(self) -> None:
        cadence = rhythm(30)
        touched = T0 - days(10)
        clock = clock_of(cadence, touched)
        decision = advance(cadence, T0, clock, Observed(last_touchpoint_at=touched), T0)
        assert not decision.reset

    def test_a_reset_lifts_the_pause(self) -> None:
        cadence = rhythm(30)
        paused = Clock(T0, 0, T0 + days(60), paused_at=T0 + days(30))
        touched = T0 + days(31)
        decision = settle(cadence, T0, paused, Observed(last_touchpoint_at=touched), touched)
        assert decision.clock == Clock(touched, 0, touched + days(30))

    def test_a_sequence_is_not_reset_by_a_touchpoint(self) -> None:
        cadence = sequence(0, 3, exits=ExitRules(on_touchpoint=False))
        clock = Clock(T0, 1, T0 + days(3))
        decision = advance(
            cadence, T0, clock, Observed(last_touchpoint_at=T0 + days(1)), T0 + days(3)
        )
        assert (decision.reset, decision.fire) == (False, 1)


class TestPause:
    def test_an_open_cadence_task_keeps_the_step_from_falling_due(self) -> None:
        cadence = rhythm(30)
        now = T0 + days(31)
        decision = advance(cadence, T0, clock_of(cadence), Observed(open_task=True), now)
        assert decision.fire is None
        assert decision.clock.paused_at == now

    def test_a_pause_keeps_its_start(self) -> None:
        cadence = rhythm(30)
        paused = Clock(T0, 0, T0 + days(30), paused_at=T0 + days(2))
        decision = settle(cadence, T0, paused, Observed(open_task=True), T0 + days(40))
        assert decision.clock == paused

    def test_once_the_task_closes_later_steps_move_by_the_time_the_clock_stood_still(
        self,
    ) -> None:
        cadence = rhythm(30, 30, 37)
        fired = advance(cadence, T0, clock_of(cadence), Observed(), T0 + days(30))
        assert fired.clock.paused_at == T0 + days(30)
        closed = T0 + days(40)
        resumed = advance(cadence, T0, fired.clock, Observed(), closed)
        assert resumed.fire is None
        assert resumed.clock.paused_at is None
        assert resumed.clock.next_due_at == T0 + days(47)

    def test_a_step_that_opens_no_task_does_not_pause(self) -> None:
        cadence = sequence(0, 3)
        decision = advance(cadence, T0, clock_of(cadence), Observed(), T0)
        assert decision.clock.paused_at is None


class TestSequenceExits:
    @pytest.mark.parametrize(
        ("observed", "reason"),
        [
            (Observed(last_reply_at=T0 + days(1)), ExitReason.REPLIED),
            (Observed(last_touchpoint_at=T0 + days(1)), ExitReason.TOUCHPOINT),
            (Observed(goal_met=True), ExitReason.GOAL),
        ],
    )
    def test_a_sequence_exits_by_its_rules(self, observed: Observed, reason: ExitReason) -> None:
        cadence = sequence(0, 3, exits=ExitRules(goal={"field": "client.stage", "op": "eq"}))
        decision = advance(cadence, T0, clock_of(cadence), observed, T0 + days(2))
        assert (decision.exit, decision.fire) == (reason, None)

    def test_a_reply_before_the_enrolment_is_no_exit(self) -> None:
        cadence = sequence(0, 3)
        decision = advance(cadence, T0, clock_of(cadence), Observed(last_reply_at=T0 - days(1)), T0)
        assert (decision.exit, decision.fire) == (None, 0)

    def test_exits_can_be_turned_off(self) -> None:
        cadence = sequence(0, exits=ExitRules(on_reply=False, on_touchpoint=False))
        observed = Observed(last_reply_at=T0 + days(1), last_touchpoint_at=T0 + days(1))
        decision = advance(cadence, T0, clock_of(cadence), observed, T0 + days(2))
        assert (decision.exit, decision.fire) == (ExitReason.COMPLETED, 0)

    def test_a_goal_without_a_goal_condition_is_no_exit(self) -> None:
        cadence = sequence(0, 3)
        decision = advance(cadence, T0, clock_of(cadence), Observed(goal_met=True), T0)
        assert decision.exit is None

    def test_a_rhythm_never_exits(self) -> None:
        cadence = rhythm(30)
        observed = Observed(last_reply_at=T0 + days(1), goal_met=True)
        assert advance(cadence, T0, clock_of(cadence), observed, T0 + days(2)).exit is None


class TestQualifyingTouchpoint:
    def test_only_the_cadences_channels_count(self) -> None:
        latest = {"call": T0, "email": T0 + days(3), "note": T0 + days(1)}
        assert last_qualifying(latest, ("call", "note")) == T0 + days(1)
        assert last_qualifying(latest, ("meeting",)) is None


class TestDefinitionProblems:
    def test_the_defaults_are_valid_tier_rhythms(self) -> None:
        defaults = default_cadences()
        assert [(c.tier, c.interval_days) for c in defaults] == [
            ("enterprise", 14),
            ("mid", 30),
            ("smb", 90),
        ]
        for cadence in defaults:
            assert cadence.channels == CHANNELS
            assert [s.action.kind for s in cadence.steps] == ["create_task"]
            assert cadence.steps[0].offset_days == cadence.interval_days
            assert definition_problems(cadence, KNOWN) == []
        assert cadence_document(defaults[1])["steps"] == [
            {
                "offset_days": 30,
                "action": {
                    "kind": "create_task",
                    "params": {"title": "Touch base with {{client.name}}"},
                    "delay_seconds": 0,
                },
            }
        ]

    def test_every_problem_is_reported_with_its_place(self) -> None:
        cadence = CadenceDefinition(
            "",
            CadenceKind.RHYTHM,
            (
                Step(10, ActionSpec("fax", {}, delay_seconds=-1)),
                Step(5, ActionSpec("create_task", {})),
            ),
            interval_days=None,
            channels=("call", "pigeon", "call"),
            exits=ExitRules(),
            condition={"field": "no.such.field", "op": "eq", "value": 1},
        )
        locs = {p.loc for p in definition_problems(cadence, KNOWN)}
        assert {
            ("name",),
            ("interval_days",),
            ("channels", 1),
            ("channels",),
            ("steps", 0, "action", "kind"),
            ("steps", 0, "action", "delay_seconds"),
            ("steps", 1, "offset_days"),
            ("exit",),
        } <= locs
        assert any(loc[0] == "condition" for loc in locs)

    def test_a_sequence_takes_no_interval_and_a_rhythm_no_steps_beyond_it(self) -> None:
        seq = CadenceDefinition(
            "S", CadenceKind.SEQUENCE, (Step(0, ActionSpec("send_email")),), interval_days=7
        )
        assert [p.loc for p in definition_problems(seq, KNOWN)] == [("interval_days",)]
        wide = rhythm(30, 0, 30)
        assert [p.loc for p in definition_problems(wide, KNOWN)] == [("steps",)]

    def test_a_goal_condition_is_checked_where_it_stands(self) -> None:
        seq = CadenceDefinition(
            "S",
            CadenceKind.SEQUENCE,
            (Step(0, ActionSpec("send_email")),),
            exits=ExitRules(goal={"all": [{"field": "nope", "op": "eq", "value": 1}]}),
        )
        (problem,) = definition_problems(seq, KNOWN)
        assert problem.loc[:4] == ("exit", "goal", "all", 0)
