"""The condition language of triggers ("If"): a JSON tree of `all` / `any` / `not` over leaves
`{"field": ..., "op": ..., "value": ...}` that read one client: its fields and attributes, health,
open signals, revenue, renewal, touchpoints and tasks.

A condition is parsed once, on write (`parse_condition`, every problem at once with a JSON
pointer), evaluated here for one client (`evaluate`, with the value of every field it read so a
firing explains itself) and compiled to one SQL statement over a portfolio by
`app.db.repositories.conditions`. The two must agree, so every leaf is *definite*: it is true or
false, never unknown. A null value fails every comparison (`eq`, `lt`, `in`, `includes`, ...)
and `ne`, `not_in`, `not_includes` are their exact negations, so `not` is plain negation on
both sides and SQL's three-valued logic never leaks in.

The field catalogue and its type rules are `FIELDS` (served to users as documentation).
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from app.domain.condition_fields import (
    COMPARISONS,
    FIELDS,
    MAX_CHANGE_DAYS,
    MAX_DEPTH,
    MAX_LEAVES,
    NEGATED,
    OPEN_TASK_STATUSES,
    FieldName,
    FieldSpec,
    Op,
    ValueType,
    fields_document,
)
from app.domain.condition_tree import (
    MATCH_ALL,
    All,
    AnyOf,
    Condition,
    ConditionInvalid,
    ConditionProblem,
    Leaf,
    Not,
    OpenSignal,
    SignalMatch,
    condition_document,
    is_number,
    leaves,
    parse_condition,
)

__all__ = [
    "FIELDS",
    "MATCH_ALL",
    "MAX_CHANGE_DAYS",
    "MAX_DEPTH",
    "MAX_LEAVES",
    "OPEN_TASK_STATUSES",
    "All",
    "AnyOf",
    "ClientView",
    "Condition",
    "ConditionInvalid",
    "ConditionProblem",
    "Evaluation",
    "FieldName",
    "FieldSpec",
    "Leaf",
    "Not",
    "Op",
    "OpenSignal",
    "ScorePoint",
    "SignalMatch",
    "ValueType",
    "condition_document",
    "evaluate",
    "fields_document",
    "holds",
    "leaves",
    "parse_condition",
    "today_of",
]


@dataclass(frozen=True)
class ScorePoint:
    """A stored snapshot's score, with what orders snapshots computed at the same moment."""

    computed_at: datetime
    snapshot_id: uuid.UUID
    score: float | None


@dataclass(frozen=True)
class ClientView:
    """Every field the language can read, for one client, as of `as_of` (timezone-aware).

    `score_history` holds the snapshots computed between `as_of - MAX_CHANGE_DAYS` and
    `as_of - 1 day`, plus the newest one before that range: enough to know the score in force
    any whole number of days (1-MAX_CHANGE_DAYS) ago. `mrr` and `next_renewal_on` are
    `app.domain.contracts.mrr` and `next_renewal_on` on the client's contracts that day."""

    client_id: uuid.UUID
    as_of: datetime
    name: str
    stage: str
    status: str
    tier: str | None = None
    owner_id: uuid.UUID | None = None
    attributes: Mapping[str, Any] = field(default_factory=dict)
    score: float | None = None
    band: str | None = None
    groups: Mapping[str, Any] = field(default_factory=dict)
    score_history: tuple[ScorePoint, ...] = ()
    open_signals: tuple[OpenSignal, ...] = ()
    mrr: Mapping[str, Decimal] = field(default_factory=dict)
    next_renewal_on: date | None = None
    last_touchpoint_at: datetime | None = None
    open_tasks: int = 0


@dataclass(frozen=True)
class Evaluation:
    """Whether the client matched, and every field value the condition read (JSON-ready),
    keyed by `Leaf.ref`: what a trigger run records to explain a firing."""

    matched: bool
    values: dict[str, Any]


def today_of(now: datetime) -> date:
    """The day conditions count from: UTC, like contracts and renewals."""
    return now.astimezone(UTC).date()


def evaluate(condition: Condition | None, view: ClientView) -> Evaluation:
    """Every leaf is read (no short cut), so the recorded values are complete."""
    values: dict[str, Any] = {}
    matched = _holds(condition or MATCH_ALL, view, values)
    return Evaluation(matched, values)


def _holds(condition: Condition, view: ClientView, values: dict[str, Any]) -> bool:
    if isinstance(condition, Leaf):
        raw = read(condition, view)
        values[condition.ref] = _recorded(raw)
        return compare(condition, raw)
    if isinstance(condition, Not):
        return not _holds(condition.child, view, values)
    results = [_holds(child, view, values) for child in condition.children]
    return all(results) if isinstance(condition, All) else any(results)


def read(leaf: Leaf, view: ClientView) -> Any:
    """The raw value a leaf compares: None when the client has none."""
    match leaf.name:
        case FieldName.NAME:
            return view.name
        case FieldName.TIER:
            return view.tier
        case FieldName.STAGE:
            return view.stage
        case FieldName.STATUS:
            return view.status
        case FieldName.OWNER_ID:
            return view.owner_id
        case FieldName.ATTRIBUTE:
            return view.attributes.get(leaf.key or "")
        case FieldName.SCORE:
            return view.score
        case FieldName.BAND:
            return view.band
        case FieldName.GROUP:  # a group score is a number, or nothing
            raw = view.groups.get(leaf.key or "")
            return float(raw) if is_number(raw) else None
        case FieldName.SCORE_CHANGE:
            return score_change(view, leaf.days or 1)
        case FieldName.SIGNALS_OPEN:
            return view.open_signals
        case FieldName.SIGNALS_OPEN_COUNT:
            return len(view.open_signals)
        case FieldName.MRR:
            return view.mrr.get(leaf.currency or "", Decimal(0))
        case FieldName.DAYS_TO_RENEWAL:
            renewal = view.next_renewal_on
            return None if renewal is None else (renewal - today_of(view.as_of)).days
        case FieldName.DAYS_SINCE_TOUCHPOINT:
            last = view.last_touchpoint_at
            return None if last is None else (view.as_of - last).days  # floor: whole days
        case FieldName.TASKS_OPEN_COUNT:
            return view.open_tasks


def score_change(view: ClientView, days: int) -> float | None:
    then = view.as_of - timedelta(days=days)
    earlier = [p for p in view.score_history if p.computed_at <= then]
    if view.score is None or not earlier:
        return None
    before = max(earlier, key=lambda p: (p.computed_at, p.snapshot_id)).score
    return None if before is None else view.score - before


def compare(leaf: Leaf, raw: Any) -> bool:
    """The leaf's truth for a raw value: definite, with null failing every positive op."""
    op = leaf.op
    if op in NEGATED:
        return not compare(_positive(leaf), raw)
    if op is Op.EXISTS:
        return raw is not None
    if leaf.name is FieldName.SIGNALS_OPEN:
        signals: Sequence[OpenSignal] = raw
        return any(leaf.value.matches(s) for s in signals)
    if leaf.name is FieldName.ATTRIBUTE:
        return _compare_json(op, leaf.value, raw)
    if raw is None:
        return False
    if op is Op.IN:
        return bool(raw in leaf.value)
    return holds(op, raw, leaf.value)


def _positive(leaf: Leaf) -> Leaf:
    return replace(leaf, op=NEGATED[leaf.op])


def holds(op: Op, left: Any, right: Any) -> bool:
    """`left op right` for a comparison (`eq`, `lt`, `lte`, `gt`, `gte`)."""
    return bool(COMPARISONS[op](left, right))


def _compare_json(op: Op, value: Any, raw: Any) -> bool:
    """JSON values compare within their JSON type: strings as text, numbers as 64-bit floats,
    booleans as booleans; any other pair (or a missing key, or null) is not equal."""
    if op is Op.IN:
        return any(_json_equal(item, raw) for item in value)
    if op is Op.EQ:
        return _json_equal(value, raw)
    return is_number(raw) and holds(op, float(raw), float(value))


def _json_equal(value: Any, raw: Any) -> bool:
    if isinstance(value, bool):
        return isinstance(raw, bool) and raw is value
    if isinstance(value, str):
        return isinstance(raw, str) and raw == value
    return is_number(raw) and float(raw) == float(value)


def _recorded(raw: Any) -> Any:
    """A read value as JSON: signals as a sorted list, exact amounts and ids as strings."""
    if isinstance(raw, tuple):
        return sorted(({"kind": s.kind, "severity": s.severity} for s in raw), key=str)
    if isinstance(raw, uuid.UUID | Decimal):
        return str(raw)
    return raw
