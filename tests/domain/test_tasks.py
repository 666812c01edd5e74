"""The task rules on plain values: lifecycle, assignment, snooze, escalation, settings."""

import uuid
from datetime import UTC, datetime, timedelta

import pytest

from app.domain import tasks as rules
from app.domain.tasks import (
    Assignment,
    EscalationAction,
    EscalationRule,
    Fallback,
    OwnerLoad,
    TaskSource,
    TaskStatus,
)
from app.errors import Conflict, InvalidInput

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
A, B, C = (uuid.UUID(int=n) for n in (1, 2, 3))


class TestLifecycle:
    @pytest.mark.parametrize(
        ("current", "target"),
        [
            (TaskStatus.OPEN, TaskStatus.DONE),
            (TaskStatus.OPEN, TaskStatus.SNOOZED),
            (TaskStatus.OPEN, TaskStatus.CANCELLED),
            (TaskStatus.SNOOZED, TaskStatus.OPEN),
            (TaskStatus.SNOOZED, TaskStatus.SNOOZED),
            (TaskStatus.SNOOZED, TaskStatus.DONE),
            (TaskStatus.SNOOZED, TaskStatus.CANCELLED),
        ],
    )
    def test_allowed_moves(self, current: TaskStatus, target: TaskStatus) -> None:
        rules.check_transition(current, target)

    @pytest.mark.parametrize("final", [TaskStatus.DONE, TaskStatus.CANCELLED])
    @pytest.mark.parametrize("target", list(TaskStatus))
    def test_done_and_cancelled_are_final(self, final: TaskStatus, target: TaskStatus) -> None:
        with pytest.raises(Conflict, match="final"):
            rules.check_transition(final, target)
        with pytest.raises(Conflict, match="final"):
            rules.check_editable(final)

    def test_an_open_task_cannot_be_reopened(self) -> None:
        with pytest.raises(Conflict, match="already open"):
            rules.check_transition(TaskStatus.OPEN, TaskStatus.OPEN)


class TestRoundRobin:
    def test_an_owner_never_given_a_task_comes_first_then_the_least_recent(self) -> None:
        loads = [
            OwnerLoad(A, last_assigned_at=T, assigned_at_last=1),
            OwnerLoad(B, last_assigned_at=T - timedelta(hours=1), assigned_at_last=1),
            OwnerLoad(C),
        ]
        assert rules.round_robin(loads) == C
        assert rules.round_robin(loads[:2]) == B

    def test_ties_in_one_instant_go_to_fewer_then_to_the_lowest_id(self) -> None:
        loads = [
            OwnerLoad(B, last_assigned_at=T, assigned_at_last=1),
            OwnerLoad(A, last_assigned_at=T, assigned_at_last=2),
            OwnerLoad(C, last_assigned_at=T, assigned_at_last=1),
        ]
        assert rules.round_robin(loads) == B

    def test_many_assignments_in_one_instant_rotate_fairly(self) -> None:
        loads = [OwnerLoad(C), OwnerLoad(A), OwnerLoad(B)]
        picks = []
        for _ in range(7):
            pick = rules.round_robin(loads)
            picks.append(pick)
            loads = rules.after_assignment(loads, pick, T)
        assert picks == [A, B, C, A, B, C, A]

    def test_nobody_to_pick_is_none(self) -> None:
        assert rules.round_robin([]) is None
        assert rules.least_loaded([]) is None


class TestLeastLoaded:
    def test_fewest_open_tasks_then_round_robin(self) -> None:
        loads = [
            OwnerLoad(A, open_tasks=3),
            OwnerLoad(B, open_tasks=1, last_assigned_at=T),
            OwnerLoad(C, open_tasks=1, last_assigned_at=T - timedelta(days=1)),
        ]
        assert rules.least_loaded(loads) == C


class TestStrategy:
    @pytest.mark.parametrize(
        ("assignment", "fallback", "expected"),
        [
            (Assignment.CLIENT_OWNER, Fallback.ROUND_ROBIN, "round_robin"),
            (Assignment.CLIENT_OWNER, Fallback.NONE, "none"),
            (Assignment.LEAST_LOADED, Fallback.NONE, "least_loaded"),
            (Assignment.ROUND_ROBIN, Fallback.LEAST_LOADED, "round_robin"),
        ],
    )
    def test_client_owner_defers_to_the_workspace_fallback(
        self, assignment: Assignment, fallback: Fallback, expected: str
    ) -> None:
        assert rules.strategy_without_owner(assignment, fallback) == expected

    def test_none_picks_nobody(self) -> None:
        assert rules.pick("none", [OwnerLoad(A)]) is None


class TestSnooze:
    def test_an_earlier_due_date_moves_to_the_snooze_time(self) -> None:
        plan = rules.snooze(TaskStatus.OPEN, T, T + timedelta(days=1), T)
        assert plan == rules.Snooze(
            snoozed_until=T + timedelta(days=1), due_at=T + timedelta(days=1)
        )

    def test_a_later_or_missing_due_date_stays(self) -> None:
        later = T + timedelta(days=9)
        assert rules.snooze(TaskStatus.OPEN, later, T + timedelta(days=1), T).due_at == later
        assert rules.snooze(TaskStatus.OPEN, None, T + timedelta(days=1), T).due_at is None

    @pytest.mark.parametrize("until", [T, T - timedelta(hours=1), T + timedelta(days=367)])
    def test_a_time_not_ahead_or_too_far_is_refused(self, until: datetime) -> None:
        with pytest.raises(InvalidInput) as refused:
            rules.snooze(TaskStatus.OPEN, None, until, T)
        assert refused.value.errors is not None
        assert refused.value.errors[0]["loc"] == ["body", "until"]

    def test_wakes_when_the_time_has_come(self) -> None:
        assert rules.wakes(TaskStatus.SNOOZED, T, T)
        assert not rules.wakes(TaskStatus.SNOOZED, T + timedelta(seconds=1), T)
        assert not rules.wakes(TaskStatus.OPEN, T, T)


class TestEscalation:
    RULE = EscalationRule(after_hours=48)

    def escalates(self, **overrides: object) -> bool:
        fields: dict[str, object] = {
            "status": TaskStatus.OPEN,
            "source": TaskSource.MANUAL,
            "due_at": T - timedelta(hours=49),
            "escalated_at": None,
            "rule": self.RULE,
            "now": T,
        }
        fields.update(overrides)
        return rules.escalates(**fields)  # type: ignore[arg-type]

    def test_an_open_task_overdue_beyond_the_delay_escalates(self) -> None:
        assert self.escalates()

    @pytest.mark.parametrize(
        "overrides",
        [
            {"due_at": T - timedelta(hours=47)},
            {"due_at": None},
            {"status": TaskStatus.SNOOZED},
            {"status": TaskStatus.DONE},
            {"escalated_at": T - timedelta(hours=1)},
            {"source": TaskSource.ESCALATION},
            {"rule": EscalationRule(enabled=False)},
        ],
    )
    def test_otherwise_it_does_not(self, overrides: dict[str, object]) -> None:
        assert not self.escalates(**overrides)

    def test_overdue_means_open_and_past_due(self) -> None:
        assert rules.is_overdue(TaskStatus.OPEN, T - timedelta(seconds=1), T)
        assert not rules.is_overdue(TaskStatus.OPEN, None, T)
        assert not rules.is_overdue(TaskStatus.SNOOZED, T - timedelta(days=1), T)

    def test_the_named_escalation_owner_when_active(self) -> None:
        rule = EscalationRule(owner_id=C)
        loads = [OwnerLoad(A), OwnerLoad(B), OwnerLoad(C, open_tasks=9)]
        assert rules.escalation_owner(rule, A, loads) == C

    def test_else_the_least_loaded_colleague_else_the_owner(self) -> None:
        rule = EscalationRule(owner_id=C)  # C is not active: not among the loads
        loads = [OwnerLoad(A), OwnerLoad(B, open_tasks=2)]
        assert rules.escalation_owner(rule, A, loads) == B
        assert rules.escalation_owner(rule, A, [OwnerLoad(A)]) == A
        assert rules.escalation_owner(rule, None, []) is None

    def test_the_title_says_overdue_within_the_limit(self) -> None:
        assert rules.escalation_title("Call") == "Overdue: Call"
        assert len(rules.escalation_title("x" * 200)) == rules.MAX_TITLE


class TestFields:
    def fields(self, **overrides: object) -> rules.TaskFields:
        values: dict[str, object] = {
            "title": "Call",
            "body": None,
            "priority": "normal",
            "source": "trigger",
            "channel": None,
            "dedupe_key": "trigger:1",
            "assignment": "client_owner",
            "due_at": None,
        }
        values.update(overrides)
        return rules.TaskFields(**values)  # type: ignore[arg-type]

    def test_valid_fields_pass(self) -> None:
        rules.validate_fields(self.fields())

    def test_every_problem_at_once(self) -> None:
        with pytest.raises(InvalidInput) as refused:
            rules.validate_fields(
                self.fields(
                    title="",
                    body="x" * 5001,
                    priority="p0",
                    source="robot",
                    channel="fax",
                    dedupe_key="",
                    assignment="random",
                    due_at=datetime(2030, 1, 1),
                )
            )
        assert refused.value.errors is not None
        assert [e["loc"][1] for e in refused.value.errors] == [
            "title",
            "body",
            "priority",
            "source",
            "assignment",
            "channel",
            "dedupe_key",
            "due_at",
        ]


class TestSettings:
    def test_the_defaults_round_trip_through_their_document(self) -> None:
        document = rules.to_document(rules.DEFAULT_SETTINGS)
        assert rules.from_document(document) == rules.DEFAULT_SETTINGS
        assert document["escalation"] == {
            "enabled": True,
            "after_hours": 48,
            "action": "task",
            "owner_id": None,
            "due_hours": 24,
        }

    def test_a_partial_change_keeps_the_rest_and_null_clears_the_owner(self) -> None:
        changed = rules.apply_changes(
            rules.DEFAULT_SETTINGS,
            {"escalation": {"action": "reassign", "owner_id": str(A)}},
        )
        assert changed.escalation == EscalationRule(action=EscalationAction.REASSIGN, owner_id=A)
        cleared = rules.apply_changes(changed, {"escalation": {"owner_id": None}})
        assert cleared.escalation.owner_id is None
        assert cleared.escalation.action is EscalationAction.REASSIGN
        assert (
            rules.apply_changes(changed, {"escalation": {"after_hours": 5}}).escalation.owner_id
            == A
        )

    def test_hours_out_of_range_are_refused(self) -> None:
        bad = rules.apply_changes(rules.DEFAULT_SETTINGS, {"escalation": {"after_hours": 0}})
        with pytest.raises(InvalidInput):
            rules.validate_settings(bad)
