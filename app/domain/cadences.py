"""Cadences: follow-up rhythms per tier and outreach sequences, and the clock that says when
an enrolled client's next step falls due.

A **rhythm** ("every mid-tier client gets a touchpoint at least every 30 days") counts from
its anchor: the client's last qualifying touchpoint, or the enrolment when there was none.
A qualifying touchpoint after the anchor resets the clock to step 0 from that touchpoint.
After its last step a rhythm starts over, so cycles stay `interval_days` long.

A **sequence** counts from the enrolment and ends after its last step, or earlier by its
exit rules: the contact replied, a qualifying touchpoint was logged, or a goal holds.

An open cadence task pauses the clock: a step that opens a task pauses it when it fires, and
the clock also stops when a step falls due while a task of the cadence is still open. Once no
task is open the clock runs again, every later step moved by the time it stood still.

Steps keep their spacing from when the previous one actually ran, so a late tick (or a long
pause) never fires two steps at once.
"""

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from app.domain.actions import MAX_DELAY_SECONDS, ActionSpec
from app.domain.conditions import ConditionInvalid, parse_condition
from app.domain.limits import json_size

CHANNELS: tuple[str, ...] = ("call", "meeting", "email", "note")
"""The touchpoint channels (the `channel` property of a `touchpoint` event)."""
REPLY_EVENT = "email_replied"
TOUCHPOINT_EVENT = "touchpoint"
TASK_ACTION = "create_task"
"""A step whose action opens a task pauses the clock when it fires."""

MAX_STEPS = 20
MAX_DAYS = 3650
MAX_PARAMS_BYTES = 16_384
MAX_CONDITION_BYTES = 16_384
MAX_NAME_LENGTH = 200


class CadenceKind(StrEnum):
    RHYTHM = "rhythm"
    SEQUENCE = "sequence"


class EnrollmentStatus(StrEnum):
    ACTIVE = "active"
    ENDED = "ended"


class EnrollmentSource(StrEnum):
    """`tier` and `condition`: the cadence's own rule enrolled the client (its tier, or its
    condition when it has no tier) and ends the enrolment once the rule no longer holds or
    the client churned. `trigger` and `manual` enrolments stay until an exit, an end by hand
    or the cadence's disabling."""

    TIER = "tier"
    CONDITION = "condition"
    TRIGGER = "trigger"
    MANUAL = "manual"


class ExitReason(StrEnum):
    REPLIED = "replied"
    TOUCHPOINT = "touchpoint"
    GOAL = "goal"
    COMPLETED = "completed"
    TIER_CHANGED = "tier_changed"
    CONDITION_UNMET = "condition_unmet"
    CLIENT_INACTIVE = "client_inactive"
    CADENCE_DISABLED = "cadence_disabled"
    MANUAL = "manual"


@dataclass(frozen=True)
class Step:
    """`action` (an action of the registry, with its own delay) runs when the step falls
    due: `offset_days` after the anchor, or after the previous step by their difference."""

    offset_days: int
    action: ActionSpec


@dataclass(frozen=True)
class ExitRules:
    """When a sequence ends early; `goal` is a condition document (the conditions language)."""

    on_reply: bool = True
    on_touchpoint: bool = True
    goal: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class CadenceDefinition:
    """Everything a cadence says. `tier` and `condition` decide automatic enrolment: with
    neither, clients come only through triggers or by hand."""

    name: str
    kind: CadenceKind
    steps: tuple[Step, ...]
    tier: str | None = None
    condition: Mapping[str, Any] | None = None
    interval_days: int | None = None
    channels: tuple[str, ...] = CHANNELS
    exits: ExitRules | None = None
    enabled: bool = True

    @property
    def automatic(self) -> bool:
        return self.tier is not None or self.condition is not None

    @property
    def automatic_source(self) -> "EnrollmentSource":
        return EnrollmentSource.TIER if self.tier is not None else EnrollmentSource.CONDITION


def touch_base_step(interval_days: int) -> Step:
    """A rhythm's usual step: when the interval runs out, a task for the client's owner."""
    return Step(
        offset_days=interval_days,
        action=ActionSpec(TASK_ACTION, {"title": "Touch base with {{client.name}}"}),
    )


DEFAULT_INTERVALS: tuple[tuple[str, int], ...] = (("enterprise", 14), ("mid", 30), ("smb", 90))


def default_cadences() -> list[CadenceDefinition]:
    """The tier rhythms every workspace starts with (seeded by the default playbooks)."""
    return [
        CadenceDefinition(
            name=f"{tier.capitalize()} touchpoint every {days} days",
            kind=CadenceKind.RHYTHM,
            tier=tier,
            interval_days=days,
            channels=CHANNELS,
            steps=(touch_base_step(days),),
        )
        for tier, days in DEFAULT_INTERVALS
    ]


# --- documents --------------------------------------------------------------------------


def step_document(step: Step) -> dict[str, Any]:
    return {"offset_days": step.offset_days, "action": step.action.document()}


def step_from_document(document: Mapping[str, Any]) -> Step:
    action = document["action"]
    return Step(
        offset_days=int(document["offset_days"]),
        action=ActionSpec(
            kind=str(action["kind"]),
            params=dict(action.get("params") or {}),
            delay_seconds=int(action.get("delay_seconds") or 0),
        ),
    )


def exits_document(exits: ExitRules | None) -> dict[str, Any] | None:
    if exits is None:
        return None
    goal = dict(exits.goal) if exits.goal is not None else None
    return {"on_reply": exits.on_reply, "on_touchpoint": exits.on_touchpoint, "goal": goal}


def exits_from_document(document: Mapping[str, Any] | None) -> ExitRules | None:
    if document is None:
        return None
    return ExitRules(
        on_reply=bool(document.get("on_reply", True)),
        on_touchpoint=bool(document.get("on_touchpoint", True)),
        goal=document.get("goal") or None,
    )


def cadence_document(definition: CadenceDefinition) -> dict[str, Any]:
    """The definition as JSON, the shape the API takes and the tables keep."""
    return {
        "name": definition.name,
        "kind": definition.kind.value,
        "tier": definition.tier,
        "condition": dict(definition.condition) if definition.condition is not None else None,
        "interval_days": definition.interval_days,
        "channels": list(definition.channels),
        "steps": [step_document(s) for s in definition.steps],
        "exit": exits_document(definition.exits),
        "enabled": definition.enabled,
    }


def definition_from_document(document: Mapping[str, Any]) -> CadenceDefinition:
    """The definition a document describes (the API's shape, already typed by the schema).
    A rhythm without steps gets the usual one; an empty condition is no condition."""
    kind = CadenceKind(document["kind"])
    interval = document.get("interval_days")
    raw_steps = document.get("steps")
    if raw_steps is None and kind is CadenceKind.RHYTHM and isinstance(interval, int):
        steps: tuple[Step, ...] = (touch_base_step(interval),)
    else:
        steps = tuple(step_from_document(s) for s in raw_steps or ())
    channels = document.get("channels")
    return CadenceDefinition(
        name=document["name"],
        kind=kind,
        steps=steps,
        tier=document.get("tier"),
        condition=document.get("condition") or None,
        interval_days=interval,
        channels=tuple(CHANNELS if channels is None else channels),
        exits=exits_from_document(document.get("exit")),
        enabled=bool(document.get("enabled", True)),
    )


# --- validation -------------------------------------------------------------------------

Loc = tuple[str | int, ...]


@dataclass(frozen=True)
class DefinitionProblem:
    """`loc` is the place in the definition's document, as request validation reports it."""

    loc: Loc
    message: str


def definition_problems(
    definition: CadenceDefinition, known_actions: Sequence[str]
) -> list[DefinitionProblem]:
    """Every problem with a definition, so an editor sees them all at once: its shape, the
    step actions' kinds and delays, and both conditions. The kinds' own parameter checks and
    the tier (the workspace's vocabulary) are left to the caller, which knows them."""
    problems: list[DefinitionProblem] = []

    def report(loc: Loc, message: str) -> None:
        problems.append(DefinitionProblem(loc, message))

    rhythm = definition.kind is CadenceKind.RHYTHM
    if not definition.name.strip() or len(definition.name) > MAX_NAME_LENGTH:
        report(("name",), f"must be 1 to {MAX_NAME_LENGTH} characters")
    interval = definition.interval_days
    if rhythm and interval is None:
        report(("interval_days",), "a rhythm needs interval_days")
    elif not rhythm and interval is not None:
        report(("interval_days",), "applies to rhythms only: a sequence ends after its steps")
    elif interval is not None and not 1 <= interval <= MAX_DAYS:
        report(("interval_days",), f"must be between 1 and {MAX_DAYS}")
    for i, channel in enumerate(definition.channels):
        if channel not in CHANNELS:
            report(("channels", i), f"must be one of {', '.join(CHANNELS)}")
    if len(set(definition.channels)) != len(definition.channels):
        report(("channels",), "lists a channel twice")
    if rhythm and not definition.channels:
        report(("channels",), "a rhythm needs a channel whose touchpoint resets it")
    _step_problems(definition, known_actions, report)
    if rhythm and definition.exits is not None:
        report(("exit",), "exit rules apply to sequences; a rhythm resets instead")
    _condition_problems(("condition",), definition.condition, report)
    if definition.exits is not None:
        _condition_problems(("exit", "goal"), definition.exits.goal, report)
    return problems


def _step_problems(
    definition: CadenceDefinition,
    known_actions: Sequence[str],
    report: Callable[[Loc, str], None],
) -> None:
    steps = definition.steps
    if not steps:
        report(("steps",), "needs at least one step")
    if len(steps) > MAX_STEPS:
        report(("steps",), f"at most {MAX_STEPS} steps")
    for i, step in enumerate(steps):
        if not 0 <= step.offset_days <= MAX_DAYS:
            report(("steps", i, "offset_days"), f"must be between 0 and {MAX_DAYS}")
        elif i and step.offset_days < steps[i - 1].offset_days:
            report(("steps", i, "offset_days"), "must not be before the previous step's")
        action = step.action
        if action.kind not in known_actions:
            report(("steps", i, "action", "kind"), f"must be one of: {', '.join(known_actions)}")
        if not 0 <= action.delay_seconds <= MAX_DELAY_SECONDS:
            report(("steps", i, "action", "delay_seconds"), f"must lie in 0..{MAX_DELAY_SECONDS}")
        if json_size(dict(action.params)) > MAX_PARAMS_BYTES:
            report(("steps", i, "action", "params"), f"must be at most {MAX_PARAMS_BYTES} bytes")
    interval = definition.interval_days
    if (
        definition.kind is CadenceKind.RHYTHM
        and interval is not None
        and steps
        and steps[-1].offset_days - steps[0].offset_days >= interval
    ):
        report(("steps",), "a rhythm's steps must fit in one interval: last - first offset")


def _condition_problems(
    loc: Loc, document: Mapping[str, Any] | None, report: Callable[[Loc, str], None]
) -> None:
    if document is None:
        return
    if json_size(document) > MAX_CONDITION_BYTES:
        report(loc, f"must be at most {MAX_CONDITION_BYTES} bytes")
        return
    try:
        parse_condition(document)
    except ConditionInvalid as invalid:
        for problem in invalid.problems:
            report((*loc, *_pointer_loc(problem.pointer)), problem.message)


def _pointer_loc(pointer: str) -> Loc:
    """A JSON pointer ("/all/0/field") as a location (("all", 0, "field"))."""
    if not pointer:
        return ()
    parts = [p.replace("~1", "/").replace("~0", "~") for p in pointer[1:].split("/")]
    return tuple(int(p) if p.isdigit() else p for p in parts)


# --- the clock --------------------------------------------------------------------------


@dataclass(frozen=True)
class Clock:
    """Where an enrolment stands: its anchor (the last qualifying touchpoint, or the
    enrolment), the next step and when it falls due, and since when the clock stands still."""

    anchor_at: datetime
    next_step: int
    next_due_at: datetime
    paused_at: datetime | None = None

    @property
    def paused(self) -> bool:
        return self.paused_at is not None


@dataclass(frozen=True)
class Observed:
    """What the tick saw for the client. `last_touchpoint_at` counts only the cadence's
    qualifying channels; `goal_met` is whether the sequence's goal condition holds now."""

    last_touchpoint_at: datetime | None = None
    last_reply_at: datetime | None = None
    goal_met: bool = False
    open_task: bool = False


@dataclass(frozen=True)
class Decision:
    """The clock after a tick, the step that fell due (None: nothing to do) and, when the
    enrolment ends, why. `reset`: a qualifying touchpoint restarted the clock."""

    clock: Clock
    fire: int | None = None
    exit: ExitReason | None = None
    reset: bool = False


def _days(n: int) -> timedelta:
    return timedelta(days=n)


def start(
    kind: CadenceKind, steps: Sequence[Step], now: datetime, last_touchpoint_at: datetime | None
) -> Clock:
    """A new enrolment's clock: a rhythm counts from the last qualifying touchpoint (so a
    client touched ten days ago is due in interval - 10 days), a sequence from now."""
    anchor = now
    if kind is CadenceKind.RHYTHM and last_touchpoint_at is not None:
        anchor = last_touchpoint_at
    return Clock(anchor_at=anchor, next_step=0, next_due_at=anchor + _days(steps[0].offset_days))


def settle(
    definition: CadenceDefinition,
    enrolled_at: datetime,
    clock: Clock,
    observed: Observed,
    now: datetime,
) -> Decision:
    """Exits, resets and pauses as of `now`, firing nothing: what a read shows, and the
    first half of a tick."""
    exit_reason = _exit(definition, enrolled_at, observed)
    if exit_reason is not None:
        return Decision(clock, exit=exit_reason)
    reset = False
    touched = observed.last_touchpoint_at
    if definition.kind is CadenceKind.RHYTHM and touched is not None and touched > clock.anchor_at:
        first = definition.steps[0].offset_days
        clock = Clock(anchor_at=touched, next_step=0, next_due_at=touched + _days(first))
        reset = True
    if observed.open_task:
        if clock.paused_at is None:
            clock = replace(clock, paused_at=now)
    elif clock.paused_at is not None:
        stood_still = max(now - clock.paused_at, timedelta(0))
        clock = replace(clock, next_due_at=clock.next_due_at + stood_still, paused_at=None)
    return Decision(clock, reset=reset)


def advance(
    definition: CadenceDefinition,
    enrolled_at: datetime,
    clock: Clock,
    observed: Observed,
    now: datetime,
) -> Decision:
    """One tick for one enrolment: settle, then fire the step that fell due (at most one)."""
    settled = settle(definition, enrolled_at, clock, observed, now)
    clock = settled.clock
    if settled.exit is not None or clock.paused or clock.next_due_at > now:
        return settled
    steps = definition.steps
    index = min(clock.next_step, len(steps) - 1)
    fired = steps[index]
    paused_at = now if fired.action.kind == TASK_ACTION else None
    if index + 1 < len(steps):
        gap = steps[index + 1].offset_days - fired.offset_days
        following = Clock(clock.anchor_at, index + 1, now + _days(gap), paused_at)
        return Decision(following, fire=index, reset=settled.reset)
    if definition.kind is CadenceKind.SEQUENCE:
        return Decision(clock, fire=index, exit=ExitReason.COMPLETED, reset=settled.reset)
    interval = definition.interval_days or fired.offset_days or 1
    gap = max(interval - fired.offset_days + steps[0].offset_days, 1)
    following = Clock(clock.anchor_at, 0, now + _days(gap), paused_at)
    return Decision(following, fire=index, reset=settled.reset)


def _exit(
    definition: CadenceDefinition, enrolled_at: datetime, observed: Observed
) -> ExitReason | None:
    if definition.kind is not CadenceKind.SEQUENCE:
        return None
    exits = definition.exits or ExitRules()
    if exits.on_reply and _after(observed.last_reply_at, enrolled_at):
        return ExitReason.REPLIED
    if exits.on_touchpoint and _after(observed.last_touchpoint_at, enrolled_at):
        return ExitReason.TOUCHPOINT
    if exits.goal is not None and observed.goal_met:
        return ExitReason.GOAL
    return None


def _after(moment: datetime | None, since: datetime) -> bool:
    return moment is not None and moment > since


def last_qualifying(
    touchpoints: Mapping[str, datetime], channels: Sequence[str]
) -> datetime | None:
    """The latest touchpoint among the qualifying channels, from the latest per channel."""
    moments = [touchpoints[c] for c in channels if c in touchpoints]
    return max(moments) if moments else None
