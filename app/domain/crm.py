"""CRM sync rules: what a CRM integration's options say, when a client's health is worth
pushing, when a debounced push is due, what a push sends, and how the pull matches records.

Pure: plain values in, plain values out. The jobs in `app.workers.crm` and the services in
`app.services.crm_*` do the I/O."""

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from app.domain.integrations import IntegrationKind

MAX_THRESHOLD = 100.0
MAX_DEBOUNCE_SECONDS = 3600
DEFAULT_THRESHOLD = 5.0
DEFAULT_DEBOUNCE_SECONDS = 30
MAX_EXTRA_PROPERTIES = 20
"""Static CRM properties a `crm_update` action may add to a push."""
MAX_PROPERTY_VALUE_CHARS = 1000
PUSH_BATCH = 100
"""Links one push run takes: HubSpot's batch update limit, so each run is one provider call."""
TASK_STATE_BATCH = 500
"""Open mirrored tasks one completion read takes; the provider client chunks them."""
PROPERTY_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
"""A CRM property's API name: HubSpot's internal names, Salesforce's `Custom__c` fields."""


class LinkObject(StrEnum):
    """What a `crm_links` row links: a Tenure row and its CRM record."""

    CLIENT = "client"
    CONTACT = "contact"
    OWNER = "owner"
    TASK = "task"


class SyncStatus(StrEnum):
    QUEUED = "queued"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"


LIVE_SYNC = (SyncStatus.QUEUED, SyncStatus.RUNNING)
"""A sync in one of these states blocks another for the same integration."""


class SyncObject(StrEnum):
    """The pull's order: owners first (companies name their owner), then companies (contacts
    name their company)."""

    OWNERS = "owners"
    COMPANIES = "companies"
    CONTACTS = "contacts"


SYNC_ORDER = (SyncObject.OWNERS, SyncObject.COMPANIES, SyncObject.CONTACTS)


def next_object(current: SyncObject) -> SyncObject | None:
    position = SYNC_ORDER.index(current)
    return SYNC_ORDER[position + 1] if position + 1 < len(SYNC_ORDER) else None


# --- options ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PushFields:
    """The CRM property each value goes to; None: that value is not pushed."""

    score: str | None
    band: str | None
    last_touchpoint_at: str | None


DEFAULT_FIELDS: dict[IntegrationKind, PushFields] = {
    IntegrationKind.HUBSPOT: PushFields(
        "tenure_health_score", "tenure_health_band", "tenure_last_touchpoint"
    ),
    IntegrationKind.SALESFORCE: PushFields(
        "Tenure_Health_Score__c", "Tenure_Health_Band__c", "Tenure_Last_Touchpoint__c"
    ),
}


@dataclass(frozen=True)
class PushOptions:
    enabled: bool = True
    score_threshold: float = DEFAULT_THRESHOLD
    debounce_seconds: int = DEFAULT_DEBOUNCE_SECONDS
    fields: PushFields = DEFAULT_FIELDS[IntegrationKind.HUBSPOT]


@dataclass(frozen=True)
class TaskOptions:
    mirror: bool = True


@dataclass(frozen=True)
class CrmOptions:
    push: PushOptions = field(default_factory=PushOptions)
    tasks: TaskOptions = field(default_factory=TaskOptions)


Problem = dict[str, Any]


def option_problems(kind: IntegrationKind, options: Mapping[str, Any]) -> list[Problem]:
    """Every problem of a CRM integration's `options`, at its location under the body (the
    service raises them as one 422). Unknown keys are refused: a misspelt `score_treshold`
    would silently push on every change."""
    problems: list[Problem] = []

    def problem(path: Sequence[str], msg: str, kind_: str = "invalid") -> None:
        problems.append({"loc": ["body", "options", *path], "msg": msg, "type": kind_})

    _known(options, ("push", "tasks"), (), problem)
    push = options.get("push", {})
    if not isinstance(push, Mapping):
        problem(["push"], "must be an object")
    else:
        _known(
            push, ("enabled", "score_threshold", "debounce_seconds", "fields"), ("push",), problem
        )
        if "enabled" in push and not isinstance(push["enabled"], bool):
            problem(["push", "enabled"], "must be true or false")
        threshold = push.get("score_threshold", DEFAULT_THRESHOLD)
        if not _number(threshold) or not 0 <= threshold <= MAX_THRESHOLD:
            problem(["push", "score_threshold"], f"must be a number from 0 to {MAX_THRESHOLD:g}")
        debounce = push.get("debounce_seconds", DEFAULT_DEBOUNCE_SECONDS)
        if isinstance(debounce, bool) or not isinstance(debounce, int):
            problem(["push", "debounce_seconds"], "must be a whole number of seconds")
        elif not 0 <= debounce <= MAX_DEBOUNCE_SECONDS:
            problem(["push", "debounce_seconds"], f"must be from 0 to {MAX_DEBOUNCE_SECONDS}")
        fields = push.get("fields", {})
        if not isinstance(fields, Mapping):
            problem(["push", "fields"], "must be an object")
        else:
            names = ("score", "band", "last_touchpoint_at")
            _known(fields, names, ("push", "fields"), problem)
            for name in (n for n in names if n in fields):
                value = fields[name]
                if value is not None and not (
                    isinstance(value, str) and PROPERTY_NAME.match(value)
                ):
                    problem(
                        ["push", "fields", name],
                        "must be a CRM property name (a letter, then letters, digits or _; at "
                        "most 100) or null to not push it",
                    )
    tasks = options.get("tasks", {})
    if not isinstance(tasks, Mapping):
        problem(["tasks"], "must be an object")
    else:
        _known(tasks, ("mirror",), ("tasks",), problem)
        if "mirror" in tasks and not isinstance(tasks["mirror"], bool):
            problem(["tasks", "mirror"], "must be true or false")
    return problems


def _known(
    document: Mapping[str, Any], allowed: Sequence[str], path: Sequence[str], problem: Any
) -> None:
    for key in document:
        if key not in allowed:
            problem(
                [*path, str(key)], f"unknown option; known: {', '.join(allowed)}", "unknown_option"
            )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def parse_options(kind: IntegrationKind, options: Mapping[str, Any]) -> CrmOptions:
    """The options with their defaults; what `option_problems` refused falls back to them (a
    row written before validation existed still syncs)."""
    push = _mapping(options.get("push"))
    tasks = _mapping(options.get("tasks"))
    given = _mapping(push.get("fields"))
    defaults = DEFAULT_FIELDS.get(kind, DEFAULT_FIELDS[IntegrationKind.HUBSPOT])

    def name(key: str, default: str | None) -> str | None:
        value = given.get(key, default)
        return (
            value
            if value is None or (isinstance(value, str) and PROPERTY_NAME.match(value))
            else default
        )

    threshold = push.get("score_threshold", DEFAULT_THRESHOLD)
    debounce = push.get("debounce_seconds", DEFAULT_DEBOUNCE_SECONDS)
    return CrmOptions(
        push=PushOptions(
            enabled=push.get("enabled", True) is not False,
            score_threshold=float(threshold)
            if _number(threshold) and 0 <= threshold <= MAX_THRESHOLD
            else DEFAULT_THRESHOLD,
            debounce_seconds=debounce
            if isinstance(debounce, int)
            and not isinstance(debounce, bool)
            and 0 <= debounce <= MAX_DEBOUNCE_SECONDS
            else DEFAULT_DEBOUNCE_SECONDS,
            fields=PushFields(
                score=name("score", defaults.score),
                band=name("band", defaults.band),
                last_touchpoint_at=name("last_touchpoint_at", defaults.last_touchpoint_at),
            ),
        ),
        tasks=TaskOptions(mirror=tasks.get("mirror", True) is not False),
    )


# --- push --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class HealthValues:
    """What a push sends for one client (and, stored as `pushed`, what it last sent)."""

    score: float | None
    band: str | None
    last_touchpoint_at: datetime | None

    def document(self) -> dict[str, Any]:
        return {
            "score": self.score,
            "band": self.band,
            "last_touchpoint_at": self.last_touchpoint_at.isoformat()
            if self.last_touchpoint_at
            else None,
        }


def needs_push(
    pushed: Mapping[str, Any] | None, score: float | None, band: str | None, threshold: float
) -> bool:
    """A change worth the CRM's attention: never pushed, another band, or a score at least
    `threshold` away from the one last pushed (so a score drifting a point a day is pushed
    once it has drifted far enough, not never)."""
    if pushed is None:
        return True
    if pushed.get("band") != band:
        return True
    before = pushed.get("score")
    if before is None or score is None:
        return before is not score
    return abs(float(score) - float(before)) >= threshold


def flush_due(now: datetime, debounce_seconds: int) -> datetime:
    """When a debounced push marked at `now` goes out: the end of the window after the one
    `now` falls in, so every change waits at least `debounce_seconds` and a burst within one
    window shares one push (the moment is also the push request's dedupe key)."""
    if debounce_seconds <= 0:
        return now
    epoch = int(now.timestamp())
    window = epoch - epoch % debounce_seconds
    return datetime.fromtimestamp(window + 2 * debounce_seconds, UTC)


def push_properties(
    fields: PushFields, values: HealthValues, extra: Mapping[str, str | None] | None = None
) -> dict[str, str | None]:
    """The CRM properties of one push: the configured fields (a score rounded to a whole
    number, the band's name, the touchpoint's date), then the action's static extras."""
    properties: dict[str, str | None] = {}
    if fields.score:
        properties[fields.score] = None if values.score is None else str(round(values.score))
    if fields.band:
        properties[fields.band] = values.band
    if fields.last_touchpoint_at:
        moment = values.last_touchpoint_at
        properties[fields.last_touchpoint_at] = (
            moment.astimezone(UTC).date().isoformat() if moment else None
        )
    properties.update(extra or {})
    return properties


def extra_property_problems(value: Any) -> list[str]:
    """The `crm_update` action's `properties`: CRM property name → a short static value."""
    if not isinstance(value, Mapping):
        return ["`properties` must be an object of CRM property names to values"]
    if len(value) > MAX_EXTRA_PROPERTIES:
        return [f"`properties` takes at most {MAX_EXTRA_PROPERTIES} properties"]
    problems = []
    for name, item in value.items():
        if not PROPERTY_NAME.match(str(name)):
            problems.append(f"`properties.{name}` is not a CRM property name")
        elif item is not None and not (
            isinstance(item, str | int | float | bool)
            and len(str(item)) <= MAX_PROPERTY_VALUE_CHARS
        ):
            problems.append(
                f"`properties.{name}` must be text, a number or true/false of at most "
                f"{MAX_PROPERTY_VALUE_CHARS} characters"
            )
    return problems


def property_text(value: Any) -> str | None:
    """A static value as CRM text (`true`/`false` for booleans, as both CRMs read them)."""
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# --- tasks -------------------------------------------------------------------------------------

COMPLETED_OUTCOME = {
    IntegrationKind.HUBSPOT: "Completed in HubSpot",
    IntegrationKind.SALESFORCE: "Completed in Salesforce",
}


TASK_READ_EVERY_MINUTES = 5
"""Mirrored tasks' states are read every five minutes: a rep's completion shows in Tenure
within minutes, at one batch read per 100 open tasks per integration."""


def reads_due(tick: datetime) -> bool:
    """Whether the minute's `crm.tick` also reads the mirrored tasks' states."""
    return tick.minute % TASK_READ_EVERY_MINUTES == 0


def completed_outcome(kind: IntegrationKind) -> str:
    return COMPLETED_OUTCOME.get(kind, "Completed in the CRM")


# --- pull --------------------------------------------------------------------------------------


def contact_name(first: str | None, last: str | None, email: str | None) -> str:
    """A contact's display name; the email when the CRM has no name."""
    name = " ".join(part for part in (first, last) if part).strip()
    return (name or email or "Unnamed contact")[:200]
