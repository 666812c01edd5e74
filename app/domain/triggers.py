"""Triggers: when Tenure looks (a fact, a schedule, a person), which clients qualify (a
condition), what it does (ordered actions), and the control policy that keeps it sane.

A definition is one JSON document, validated whole on write (every problem, each at its JSON
pointer) and stored as a version:

    {"when": {"kind": "health.band_changed", "to": ["at_risk"]},
     "condition": {"field": "tier", "op": "eq", "value": "mid"},
     "actions": [{"kind": "create_task", "params": {...}, "delay_seconds": 0}],
     "control": {"cooldown_hours": 24, "reentry": "once_per_cooldown",
                 "debounce_seconds": 60, "holdout_percent": 10}}

The control policy, decided per client that matched, in this order (`decide`):
1. **debounce**: a decision within `debounce_seconds` of the trigger's previous decision for the
   client is `debounced`. Leading edge: the first change of a burst fires at once (Tenure acts
   within seconds), the rest of the burst is recorded and does nothing; each one extends the
   quiet period, so a burst fires once however long it lasts. Trailing edge would delay every
   firing by the window.
2. **re-entry**: `once_ever` fires once per client ever (later matches are `already_fired`);
   `once_per_cooldown` (the default) not again within `cooldown_hours` of its last firing
   (`cooled_down`); `every_time` whenever it matches (debounce still applies).
3. **frequency cap**: a client that had `cap` firings in the last 24 hours, by any trigger, is
   `capped` (the workspace setting; the CS lead does not want five tasks on one account a day).
4. **holdout**: a deterministic share of clients (`holdout_percent`, by a hash of trigger and
   client) is `held_out`: recorded as a firing without actions, the control group. Held-out
   runs count for debounce and re-entry like firings, so both groups see the same rhythm, but
   not for the cap, which is about the actions a client receives.
"""

import hashlib
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from app.domain.actions import ActionSpec, ParamChecks, parse_actions
from app.domain.client_changes import ClientField
from app.domain.conditions import (
    Condition,
    ConditionInvalid,
    condition_document,
    parse_condition,
)
from app.domain.cron import Cron, check_cron, parse_cron
from app.domain.events import event_type
from app.domain.limits import EARLIEST_TIME
from app.domain.signals import SignalKind

DEFAULT_FREQUENCY_CAP = 3
"""Firings per client per rolling 24 hours, across all triggers, unless the workspace says."""
MAX_FREQUENCY_CAP = 1000
CAP_WINDOW = timedelta(hours=24)
MAX_COOLDOWN_HOURS = 24 * 365
MAX_DEBOUNCE_SECONDS = 86_400
MAX_FILTER_ITEMS = 50
CUSTOM_SIGNAL = re.compile(r"custom\.[a-z][a-z0-9_]{0,24}")


class WhenKind(StrEnum):
    HEALTH_CHANGED = "health.changed"
    HEALTH_BAND_CHANGED = "health.band_changed"
    SIGNAL_OPENED = "signal.opened"
    SIGNAL_RESOLVED = "signal.resolved"
    CLIENT_CHANGED = "client.changed"
    EVENT_INGESTED = "event.ingested"
    CONTRACT_ENDED = "contract.ended"
    SCHEDULE = "schedule"
    MANUAL = "manual"


WAKES: dict[str, tuple[WhenKind, ...]] = {
    "health.changed": (WhenKind.HEALTH_CHANGED, WhenKind.HEALTH_BAND_CHANGED),
    "signal.opened": (WhenKind.SIGNAL_OPENED,),
    "signal.resolved": (WhenKind.SIGNAL_RESOLVED,),
    "client.updated": (WhenKind.CLIENT_CHANGED,),
    "event.ingested": (WhenKind.EVENT_INGESTED,),
    "contract.ended": (WhenKind.CONTRACT_ENDED,),
}
"""Which triggers a fact kind wakes."""


class Reentry(StrEnum):
    ONCE_EVER = "once_ever"
    ONCE_PER_COOLDOWN = "once_per_cooldown"
    EVERY_TIME = "every_time"


class Outcome(StrEnum):
    FIRED = "fired"
    HELD_OUT = "held_out"
    DEBOUNCED = "debounced"
    COOLED_DOWN = "cooled_down"
    ALREADY_FIRED = "already_fired"
    CAPPED = "capped"


FIRINGS = (Outcome.FIRED, Outcome.HELD_OUT)
"""Outcomes that count as the trigger having fired for the client (re-entry, cooldown)."""


@dataclass(frozen=True)
class When:
    kind: WhenKind
    to_bands: tuple[str, ...] = ()
    from_bands: tuple[str, ...] = ()
    signal_kinds: tuple[str, ...] = ()
    fields: tuple[ClientField, ...] = ()
    event_types: tuple[str, ...] = ()
    cron: Cron | None = None

    def admits(self, wake: "Wake") -> bool:
        """Whether one thing that happened to a client is what this trigger waits for."""
        match self.kind:
            case WhenKind.HEALTH_BAND_CHANGED:
                # A first score is no move: an import of clients that start at_risk for want
                # of data must not fire the at_risk playbook for each of them.
                if wake.band_from is None or wake.band_to is None or wake.band_from == wake.band_to:
                    return False
                to_ok = not self.to_bands or wake.band_to in self.to_bands
                return to_ok and (not self.from_bands or wake.band_from in self.from_bands)
            case WhenKind.SIGNAL_OPENED | WhenKind.SIGNAL_RESOLVED:
                return not self.signal_kinds or wake.signal_kind in self.signal_kinds
            case WhenKind.CLIENT_CHANGED:
                watched = set(self.fields or ClientField)
                return bool(watched & set(wake.fields))
            case WhenKind.EVENT_INGESTED:
                return bool(set(self.event_types) & set(wake.event_types))
            case _:
                return True

    def document(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"kind": self.kind.value}
        for name, values in (
            ("to", self.to_bands),
            ("from", self.from_bands),
            ("signal_kinds", self.signal_kinds),
            ("fields", tuple(f.value for f in self.fields)),
            ("event_types", self.event_types),
        ):
            if values:
                doc[name] = list(values)
        if self.cron is not None:
            doc["cron"] = self.cron.expression
        return doc


@dataclass(frozen=True)
class Wake:
    """One thing that happened to one client, as a fact tells it."""

    client_id: uuid.UUID
    signal_id: uuid.UUID | None = None
    band_from: str | None = None
    band_to: str | None = None
    signal_kind: str | None = None
    fields: tuple[str, ...] = ()
    event_types: tuple[str, ...] = ()


@dataclass(frozen=True)
class Control:
    cooldown_hours: int = 24
    reentry: Reentry = Reentry.ONCE_PER_COOLDOWN
    debounce_seconds: int = 60
    holdout_percent: float = 0.0

    def document(self) -> dict[str, Any]:
        return {
            "cooldown_hours": self.cooldown_hours,
            "reentry": self.reentry.value,
            "debounce_seconds": self.debounce_seconds,
            "holdout_percent": self.holdout_percent,
        }


@dataclass(frozen=True)
class Definition:
    when: When
    condition: Condition
    actions: tuple[ActionSpec, ...]
    control: Control

    def document(self) -> dict[str, Any]:
        """The canonical form stored as a version; `parse_definition` reads it back equal."""
        return {
            "when": self.when.document(),
            "condition": condition_document(self.condition),
            "actions": [a.document() for a in self.actions],
            "control": self.control.document(),
        }


@dataclass(frozen=True)
class DefinitionProblem:
    """`pointer` is a JSON pointer into the definition ("/when/kind", "/actions/0/params")."""

    pointer: str
    message: str


class DefinitionInvalid(ValueError):
    def __init__(self, problems: list[DefinitionProblem]) -> None:
        super().__init__("; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems[:5]))
        self.problems = problems


def parse_definition(document: Mapping[str, Any], actions: ParamChecks) -> Definition:
    """Raises DefinitionInvalid with every problem of every part at once."""
    problems: list[DefinitionProblem] = []
    if extra := sorted(set(document) - {"when", "condition", "actions", "control"}):
        problems.append(DefinitionProblem("", f"unknown members: {', '.join(extra)}"))
    when = _when(document.get("when"), problems)
    condition: Condition | None = None
    try:
        condition = parse_condition(document.get("condition"))
    except ConditionInvalid as exc:
        problems += [DefinitionProblem(f"/condition{p.pointer}", p.message) for p in exc.problems]
    specs, action_problems = parse_actions(document.get("actions", []), actions)
    problems += [DefinitionProblem(f"/actions{p.path}", p.message) for p in action_problems]
    control = _control(document.get("control", {}), problems)
    if problems:
        raise DefinitionInvalid(problems)
    assert when is not None
    assert condition is not None
    assert control is not None
    return Definition(when, condition, tuple(specs), control)


def _when(document: Any, problems: list[DefinitionProblem]) -> When | None:
    if not isinstance(document, dict):
        problems.append(DefinitionProblem("/when", "must be an object with a `kind`"))
        return None
    try:
        kind = WhenKind(str(document.get("kind")))
    except ValueError:
        kinds = ", ".join(k.value for k in WhenKind)
        problems.append(DefinitionProblem("/when/kind", f"must be one of: {kinds}"))
        return None
    allowed = {
        WhenKind.HEALTH_BAND_CHANGED: {"to", "from"},
        WhenKind.SIGNAL_OPENED: {"signal_kinds"},
        WhenKind.SIGNAL_RESOLVED: {"signal_kinds"},
        WhenKind.CLIENT_CHANGED: {"fields"},
        WhenKind.EVENT_INGESTED: {"event_types"},
        WhenKind.SCHEDULE: {"cron"},
    }.get(kind, set())
    start = len(problems)
    if extra := sorted(set(document) - allowed - {"kind"}):
        message = f"unknown members for {kind.value}: {', '.join(extra)}"
        problems.append(DefinitionProblem("/when", message))
    to_bands = _words(document, "to", problems)
    from_bands = _words(document, "from", problems)
    signal_kinds = _words(document, "signal_kinds", problems)
    for i, name in enumerate(signal_kinds):
        if name not in SignalKind.__members__.values() and not CUSTOM_SIGNAL.fullmatch(name):
            message = "not a signal kind (the catalogue's, or custom.<name>)"
            problems.append(DefinitionProblem(f"/when/signal_kinds/{i}", message))
    fields: list[ClientField] = []
    for i, name in enumerate(_words(document, "fields", problems)):
        try:
            fields.append(ClientField(name))
        except ValueError:
            choices = ", ".join(f.value for f in ClientField)
            problems.append(DefinitionProblem(f"/when/fields/{i}", f"must be one of: {choices}"))
    event_types = _words(document, "event_types", problems)
    for i, name in enumerate(event_types):
        if event_type(name) is None:
            message = "not an event type (the catalogue's, or custom.<name>)"
            problems.append(DefinitionProblem(f"/when/event_types/{i}", message))
    if kind is WhenKind.EVENT_INGESTED and not event_types and "event_types" not in document:
        problems.append(DefinitionProblem("/when/event_types", "name the event types to watch"))
    cron = None
    if kind is WhenKind.SCHEDULE:
        expression = document.get("cron")
        if not isinstance(expression, str):
            message = "a cron expression is required, such as `0 9 * * mon-fri` (UTC)"
            problems.append(DefinitionProblem("/when/cron", message))
        else:
            cron_problems = check_cron(expression)
            problems += [DefinitionProblem("/when/cron", p) for p in cron_problems]
            cron = None if cron_problems else parse_cron(expression)
    if len(problems) > start:
        return None
    return When(
        kind=kind,
        to_bands=tuple(to_bands),
        from_bands=tuple(from_bands),
        signal_kinds=tuple(signal_kinds),
        fields=tuple(dict.fromkeys(fields)),
        event_types=tuple(event_types),
        cron=cron,
    )


def _words(document: dict[str, Any], name: str, problems: list[DefinitionProblem]) -> list[str]:
    value = document.get(name)
    if value is None:
        return []
    ok = isinstance(value, list) and 0 < len(value) <= MAX_FILTER_ITEMS
    if not ok or not all(isinstance(v, str) and 0 < len(v) <= 80 for v in value):
        message = f"must be a list of 1..{MAX_FILTER_ITEMS} names (each at most 80 characters)"
        problems.append(DefinitionProblem(f"/when/{name}", message))
        return []
    return list(dict.fromkeys(value))


def _control(document: Any, problems: list[DefinitionProblem]) -> Control | None:
    if document is None:
        return Control()
    if not isinstance(document, dict):
        problems.append(DefinitionProblem("/control", "must be an object"))
        return None
    start = len(problems)
    known = {"cooldown_hours", "reentry", "debounce_seconds", "holdout_percent"}
    if extra := sorted(set(document) - known):
        problems.append(DefinitionProblem("/control", f"unknown members: {', '.join(extra)}"))
    defaults = Control()
    cooldown = _whole(document, "cooldown_hours", MAX_COOLDOWN_HOURS, problems)
    debounce = _whole(document, "debounce_seconds", MAX_DEBOUNCE_SECONDS, problems)
    reentry = defaults.reentry
    if "reentry" in document:
        try:
            reentry = Reentry(document["reentry"])
        except ValueError:
            choices = ", ".join(r.value for r in Reentry)
            problems.append(DefinitionProblem("/control/reentry", f"must be one of: {choices}"))
    holdout = document.get("holdout_percent", 0)
    if isinstance(holdout, bool) or not isinstance(holdout, int | float) or not 0 <= holdout <= 100:
        problems.append(DefinitionProblem("/control/holdout_percent", "must be a number 0..100"))
        holdout = 0
    if len(problems) > start:
        return None
    return Control(
        cooldown_hours=defaults.cooldown_hours if cooldown is None else cooldown,
        reentry=reentry,
        debounce_seconds=defaults.debounce_seconds if debounce is None else debounce,
        holdout_percent=float(holdout),
    )


def _whole(
    document: dict[str, Any], name: str, high: int, problems: list[DefinitionProblem]
) -> int | None:
    if name not in document:
        return None
    value = document[name]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= high:
        problems.append(DefinitionProblem(f"/control/{name}", f"must be a whole number 0..{high}"))
        return None
    return value


# --- the control policy ----------------------------------------------------------------------


def holdout_bucket(trigger_id: uuid.UUID, client_id: uuid.UUID) -> float:
    """A stable number in [0, 100) per trigger and client: the same client is in or out of a
    trigger's control group on every evaluation, every version and every process."""
    digest = hashlib.sha256(trigger_id.bytes + client_id.bytes).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 * 100


def held_out(trigger_id: uuid.UUID, client_id: uuid.UUID, percent: float) -> bool:
    return percent > 0 and holdout_bucket(trigger_id, client_id) < percent


@dataclass(frozen=True)
class RunHistory:
    """A trigger's past decisions for one client, as far as the policy needs them."""

    last_decided_at: datetime | None = None
    last_fired_at: datetime | None = None
    """The last `fired` or `held_out` decision."""


@dataclass(frozen=True)
class Decision:
    outcome: Outcome
    detail: str | None = None

    @property
    def holdout(self) -> bool:
        return self.outcome is Outcome.HELD_OUT


@dataclass
class Tally:
    """Firings per client in the last 24 hours, counted on as one evaluation fires more."""

    cap: int
    fired: dict[uuid.UUID, int] = field(default_factory=dict)

    def full(self, client_id: uuid.UUID) -> bool:
        return self.fired.get(client_id, 0) >= self.cap

    def add(self, client_id: uuid.UUID) -> None:
        self.fired[client_id] = self.fired.get(client_id, 0) + 1


def decide(
    control: Control,
    history: RunHistory,
    tally: Tally,
    trigger_id: uuid.UUID,
    client_id: uuid.UUID,
    now: datetime,
    *,
    debounce: bool = True,
) -> Decision:
    """The policy for one client that matched (see the module's docstring); counts a firing
    in `tally`. `debounce=False` for schedules, whose evaluations are not bursts."""
    if debounce and control.debounce_seconds and history.last_decided_at is not None:
        quiet_until = history.last_decided_at + timedelta(seconds=control.debounce_seconds)
        if now < quiet_until:
            return Decision(Outcome.DEBOUNCED, f"a burst: quiet until {quiet_until.isoformat()}")
    last = history.last_fired_at
    if control.reentry is Reentry.ONCE_EVER and last is not None:
        return Decision(Outcome.ALREADY_FIRED, f"fires once per client; it did {last.isoformat()}")
    if control.reentry is Reentry.ONCE_PER_COOLDOWN and last is not None:
        until = last + timedelta(hours=control.cooldown_hours)
        if now < until:
            return Decision(Outcome.COOLED_DOWN, f"cooling down until {until.isoformat()}")
    if tally.full(client_id):
        return Decision(Outcome.CAPPED, f"{tally.cap} firings for this client in 24 hours")
    if held_out(trigger_id, client_id, control.holdout_percent):
        return Decision(Outcome.HELD_OUT, f"in the {control.holdout_percent:g}% control group")
    tally.add(client_id)
    return Decision(Outcome.FIRED)


def held_back_since(control: Control, now: datetime) -> datetime | None:
    """Re-entry as a bound a set-based sweep can filter on: a client with a firing after it
    is held back (`already_fired` or `cooled_down`) whatever else holds, and every other
    client is decided by debounce, the cap and the holdout alone. None: nothing holds back."""
    if control.reentry is Reentry.ONCE_EVER:
        return EARLIEST_TIME
    if control.reentry is Reentry.ONCE_PER_COOLDOWN:
        return now - timedelta(hours=control.cooldown_hours)
    return None


def forced() -> Decision:
    """A person's manual run with `force`: no policy, no holdout."""
    return Decision(Outcome.FIRED, "forced by hand: the control policy was not applied")


def merge_wakes(when: When, wakes: Sequence[Wake]) -> dict[uuid.UUID, Wake]:
    """The clients a fact wakes this trigger for, each with its first admitted wake."""
    admitted: dict[uuid.UUID, Wake] = {}
    for wake in wakes:
        if wake.client_id not in admitted and when.admits(wake):
            admitted[wake.client_id] = wake
    return admitted
