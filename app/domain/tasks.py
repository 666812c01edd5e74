"""Tasks: the unit of work for a client's one named owner, and the rules that move it.

- **Statuses.** `open` → `done`, `snoozed` or `cancelled`; `snoozed` → `open` (it wakes, or is
  reopened by hand), `snoozed` again (a new time), `done` or `cancelled`. `done` and
  `cancelled` are final: a completion may have logged a touchpoint that cannot be taken back,
  and a trigger or cadence that fires again opens a fresh task instead. "Open tasks" (for
  conditions, cadences and dedupe) are `open` and `snoozed` ones.
- **Assignment.** A named owner (who must be active); otherwise the client's owner when
  active; otherwise the strategy the caller names (`round_robin`, `least_loaded`), or for
  `client_owner` the workspace's fallback (round-robin by default, or none). Round-robin picks
  the active owner who was given a task least recently — ties (several assignments in one
  instant) go to whoever got fewer at that instant, then to the lowest id — so it is
  deterministic and fair. Least-loaded picks the fewest open tasks, ties by round-robin.
- **Snooze.** Until a time in the future; a due date before it moves to it (the owner chose
  when to do the work), so a snoozed task is never overdue. A snoozed task wakes to `open`
  when its time passes, done by the `tasks.escalate` job every minute: reads never write.
- **Overdue and escalation.** An `open` task past its due date is overdue. Once it is overdue
  by more than the workspace's escalation delay (48 hours by default) it escalates, once:
  either a second, urgent task goes to the escalation owner (the default), or the task is
  reassigned to them and made urgent. With no escalation owner named (or an inactive one),
  the least-loaded active owner other than the task's owner takes it; with no other owner,
  the task's own owner gets the second task. Escalation tasks never escalate themselves.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from app.errors import Conflict, InvalidInput


class TaskStatus(StrEnum):
    OPEN = "open"
    SNOOZED = "snoozed"
    DONE = "done"
    CANCELLED = "cancelled"


OPEN_STATUSES = frozenset({TaskStatus.OPEN, TaskStatus.SNOOZED})
FINAL_STATUSES = frozenset({TaskStatus.DONE, TaskStatus.CANCELLED})


class TaskPriority(StrEnum):
    LOW = "low"
    NORMAL = "normal"
    HIGH = "high"
    URGENT = "urgent"


class TaskSource(StrEnum):
    MANUAL = "manual"
    TRIGGER = "trigger"
    CADENCE = "cadence"
    ESCALATION = "escalation"


class TaskChannel(StrEnum):
    """The touchpoint channels of the event catalogue: a completion on one logs a touchpoint."""

    CALL = "call"
    MEETING = "meeting"
    EMAIL = "email"
    NOTE = "note"


class Assignment(StrEnum):
    CLIENT_OWNER = "client_owner"
    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"


class Fallback(StrEnum):
    """Who gets a `client_owner` task when the client has no active owner."""

    ROUND_ROBIN = "round_robin"
    LEAST_LOADED = "least_loaded"
    NONE = "none"


class EscalationAction(StrEnum):
    TASK = "task"
    REASSIGN = "reassign"


MAX_TITLE = 200
MAX_BODY = 5000
MAX_OUTCOME = 2000
MAX_DEDUPE_KEY = 200
MAX_SNOOZE = timedelta(days=366)
MAX_COMPLETION_FUTURE = timedelta(minutes=5)
"""A completion's `occurred_at` may lead the clock by this much, as an event's may."""
ESCALATION_TITLE_PREFIX = "Overdue: "

TRANSITIONS: Mapping[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.OPEN: frozenset({TaskStatus.DONE, TaskStatus.SNOOZED, TaskStatus.CANCELLED}),
    TaskStatus.SNOOZED: frozenset(
        {TaskStatus.OPEN, TaskStatus.SNOOZED, TaskStatus.DONE, TaskStatus.CANCELLED}
    ),
    TaskStatus.DONE: frozenset(),
    TaskStatus.CANCELLED: frozenset(),
}


def check_transition(current: TaskStatus, target: TaskStatus) -> None:
    """409 for a move the lifecycle does not allow, saying why."""
    if target in TRANSITIONS[current]:
        return
    if current in FINAL_STATUSES:
        raise Conflict(f"the task is {current.value}, which is final; open a new task instead")
    if current is target:
        raise Conflict(f"the task is already {current.value}")
    raise Conflict(f"a {current.value} task cannot become {target.value}")


def check_editable(current: TaskStatus) -> None:
    if current in FINAL_STATUSES:
        raise Conflict(f"the task is {current.value}, which is final; it can no longer change")


# Input rules ---------------------------------------------------------------------------------
# The API checks the same limits on its bodies; these guard the callers that bypass it (the
# trigger and cadence actions), with every problem in one 422.


@dataclass(frozen=True)
class TaskFields:
    title: str
    body: str | None
    priority: str
    source: str
    channel: str | None
    dedupe_key: str | None
    assignment: str
    due_at: datetime | None


def validate_fields(fields: TaskFields) -> None:
    problems: list[tuple[str, str]] = []
    if not fields.title.strip() or len(fields.title) > MAX_TITLE:
        problems.append(("title", f"takes 1 to {MAX_TITLE} characters besides spaces"))
    if fields.body is not None and len(fields.body) > MAX_BODY:
        problems.append(("body", f"takes at most {MAX_BODY} characters"))
    problems += _choice("priority", fields.priority, TaskPriority)
    problems += _choice("source", fields.source, TaskSource)
    problems += _choice("assignment", fields.assignment, Assignment)
    if fields.channel is not None:
        problems += _choice("channel", fields.channel, TaskChannel)
    if fields.dedupe_key is not None and not 0 < len(fields.dedupe_key) <= MAX_DEDUPE_KEY:
        problems.append(("dedupe_key", f"takes 1 to {MAX_DEDUPE_KEY} characters"))
    if fields.due_at is not None and fields.due_at.tzinfo is None:
        problems.append(("due_at", "must carry a timezone"))
    texts = [("title", fields.title), ("body", fields.body), ("dedupe_key", fields.dedupe_key)]
    problems += [(name, "must not contain NUL") for name, text in texts if text and "\x00" in text]
    raise_problems(problems)


def _choice(name: str, value: str, choices: type[StrEnum]) -> list[tuple[str, str]]:
    allowed = [c.value for c in choices]
    if value in allowed:
        return []
    return [(name, f"must be one of {', '.join(allowed)}")]


def raise_problems(problems: Sequence[tuple[str, str]], where: str = "body") -> None:
    if problems:
        raise InvalidInput(
            "; ".join(f"{name}: {message}" for name, message in problems),
            errors=[
                {"loc": [where, *name.split(".")], "msg": message, "type": "value_error"}
                for name, message in problems
            ],
        )


# Assignment ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OwnerLoad:
    """An active owner as assignment sees them: open tasks held, and when they last got one
    (with how many they got at that instant, so several assignments in one instant still
    rotate)."""

    owner_id: uuid.UUID
    open_tasks: int = 0
    last_assigned_at: datetime | None = None
    assigned_at_last: int = 0


def _recency(load: OwnerLoad) -> tuple[bool, datetime | None, int, uuid.UUID]:
    never = load.last_assigned_at is None
    return (not never, load.last_assigned_at, load.assigned_at_last, load.owner_id)


def round_robin(candidates: Sequence[OwnerLoad]) -> uuid.UUID | None:
    """The owner given a task least recently (never first); ties by fewer at that instant,
    then by id."""
    if not candidates:
        return None
    return min(candidates, key=_recency).owner_id


def least_loaded(candidates: Sequence[OwnerLoad]) -> uuid.UUID | None:
    """The owner with the fewest open tasks; ties as round-robin breaks them."""
    if not candidates:
        return None
    return min(candidates, key=lambda c: (c.open_tasks, *_recency(c))).owner_id


def pick(strategy: str, candidates: Sequence[OwnerLoad]) -> uuid.UUID | None:
    if strategy in (Assignment.LEAST_LOADED, Fallback.LEAST_LOADED):
        return least_loaded(candidates)
    if strategy in (Assignment.ROUND_ROBIN, Fallback.ROUND_ROBIN):
        return round_robin(candidates)
    return None


def strategy_without_owner(assignment: Assignment, fallback: Fallback) -> str:
    """`client_owner` defers to the workspace's fallback; the others name their own."""
    if assignment is Assignment.CLIENT_OWNER:
        return fallback.value
    return assignment.value


def after_assignment(
    candidates: Sequence[OwnerLoad], owner_id: uuid.UUID | None, now: datetime
) -> list[OwnerLoad]:
    """The loads once `owner_id` got one more open task at `now`: a run that assigns many
    tasks picks from these instead of reading the database again."""
    loads = []
    for load in candidates:
        if load.owner_id == owner_id:
            same = load.last_assigned_at == now
            load = replace(
                load,
                open_tasks=load.open_tasks + 1,
                last_assigned_at=now,
                assigned_at_last=load.assigned_at_last + 1 if same else 1,
            )
        loads.append(load)
    return loads


# Time: overdue, snooze, escalation -----------------------------------------------------------


def is_overdue(status: TaskStatus, due_at: datetime | None, now: datetime) -> bool:
    return status is TaskStatus.OPEN and due_at is not None and due_at < now


@dataclass(frozen=True)
class Snooze:
    snoozed_until: datetime
    due_at: datetime | None


def snooze(status: TaskStatus, due_at: datetime | None, until: datetime, now: datetime) -> Snooze:
    check_transition(status, TaskStatus.SNOOZED)
    problems = []
    if until <= now:
        problems.append(("until", "must be in the future"))
    elif until - now > MAX_SNOOZE:
        problems.append(("until", f"must be within {MAX_SNOOZE.days} days"))
    raise_problems(problems)
    moved = until if due_at is not None and due_at < until else due_at
    return Snooze(snoozed_until=until, due_at=moved)


def wakes(status: TaskStatus, snoozed_until: datetime | None, now: datetime) -> bool:
    return status is TaskStatus.SNOOZED and snoozed_until is not None and snoozed_until <= now


def check_completion_time(occurred_at: datetime, now: datetime) -> None:
    if occurred_at > now + MAX_COMPLETION_FUTURE:
        raise_problems([("occurred_at", "is more than 5 minutes in the future")])


@dataclass(frozen=True)
class EscalationRule:
    enabled: bool = True
    after_hours: int = 48
    action: EscalationAction = EscalationAction.TASK
    owner_id: uuid.UUID | None = None
    due_hours: int = 24

    @property
    def delay(self) -> timedelta:
        return timedelta(hours=self.after_hours)


@dataclass(frozen=True)
class AssignmentRule:
    fallback: Fallback = Fallback.ROUND_ROBIN


@dataclass(frozen=True)
class TaskSettings:
    assignment: AssignmentRule = field(default_factory=AssignmentRule)
    escalation: EscalationRule = field(default_factory=EscalationRule)


DEFAULT_SETTINGS = TaskSettings()
MAX_HOURS = 24 * 365


def escalation_cutoff(rule: EscalationRule, now: datetime) -> datetime:
    """Open tasks due before this are overdue by more than the delay."""
    return now - rule.delay


def escalates(
    *,
    status: TaskStatus,
    source: TaskSource,
    due_at: datetime | None,
    escalated_at: datetime | None,
    rule: EscalationRule,
    now: datetime,
) -> bool:
    return (
        rule.enabled
        and status is TaskStatus.OPEN
        and source is not TaskSource.ESCALATION
        and escalated_at is None
        and due_at is not None
        and due_at < escalation_cutoff(rule, now)
    )


def escalation_owner(
    rule: EscalationRule, task_owner: uuid.UUID | None, candidates: Sequence[OwnerLoad]
) -> uuid.UUID | None:
    """The named escalation owner when active; else the least-loaded other active owner;
    else the task's own owner."""
    active = {c.owner_id for c in candidates}
    if rule.owner_id is not None and rule.owner_id in active:
        return rule.owner_id
    others = [c for c in candidates if c.owner_id != task_owner]
    return least_loaded(others) or task_owner


def escalation_title(title: str) -> str:
    return (ESCALATION_TITLE_PREFIX + title)[:MAX_TITLE]


# Settings documents --------------------------------------------------------------------------


def to_document(settings: TaskSettings) -> dict[str, dict[str, Any]]:
    """Plain JSON, as stored and as the API shows it."""
    rule = settings.escalation
    return {
        "assignment": {"fallback": settings.assignment.fallback.value},
        "escalation": {
            "enabled": rule.enabled,
            "after_hours": rule.after_hours,
            "action": rule.action.value,
            "owner_id": str(rule.owner_id) if rule.owner_id is not None else None,
            "due_hours": rule.due_hours,
        },
    }


def from_document(document: Mapping[str, Any]) -> TaskSettings:
    """Stored settings over the defaults: a setting added later takes its default."""
    return apply_changes(DEFAULT_SETTINGS, document)


def apply_changes(settings: TaskSettings, changes: Mapping[str, Any]) -> TaskSettings:
    """A partial update: each given field replaces its value; `escalation.owner_id` may be set
    back to null. Unknown names are ignored here; the API refuses them before."""
    assignment = settings.assignment
    given = changes.get("assignment")
    if isinstance(given, Mapping) and given.get("fallback") is not None:
        assignment = replace(assignment, fallback=Fallback(given["fallback"]))
    escalation = settings.escalation
    given = changes.get("escalation")
    if isinstance(given, Mapping):
        updates: dict[str, Any] = {}
        for name in ("enabled", "after_hours", "due_hours"):
            if given.get(name) is not None:
                updates[name] = given[name]
        if given.get("action") is not None:
            updates["action"] = EscalationAction(given["action"])
        if "owner_id" in given:
            owner = given["owner_id"]
            updates["owner_id"] = uuid.UUID(str(owner)) if owner is not None else None
        escalation = replace(escalation, **updates)
    return TaskSettings(assignment=assignment, escalation=escalation)


def validate_settings(settings: TaskSettings) -> TaskSettings:
    rule = settings.escalation
    problems = []
    if not 1 <= rule.after_hours <= MAX_HOURS:
        problems.append(("escalation.after_hours", f"must be 1 to {MAX_HOURS}"))
    if not 1 <= rule.due_hours <= MAX_HOURS:
        problems.append(("escalation.due_hours", f"must be 1 to {MAX_HOURS}"))
    raise_problems(problems)
    return settings
