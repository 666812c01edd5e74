"""The fields a trigger condition can read, the ops each accepts and the type of its value:
the catalogue users read (`FIELDS`, served as documentation) and the parser enforces."""

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from typing import Any

from app.domain.signals import Severity

MAX_DEPTH = 8
"""Levels of nesting, the root counting as one: real conditions use two or three."""
MAX_LEAVES = 100
MAX_LIST = 100
"""Items of an `in` / `not_in` list."""
MAX_TEXT = 1000
MAX_PROBLEMS = 100
"""A condition wrong everywhere is reported up to this many problems, then summarised."""
MAX_CHANGE_DAYS = 365
"""How far back `health.score_change` looks: the view loads a year of score history."""
MAX_DAYS = 36_500
"""Bound of day counts in values, so `now` ± the value stays a valid date."""
MAX_COUNT = 1_000_000
MAX_AMOUNT = Decimal(10) ** 14
AMOUNT_PLACES = 4
"""Contract amounts are exact to 4 decimal places; a finer MRR threshold could not agree."""
KEY = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.:-]{0,63}")
"""Attribute keys and group names a condition can name: both SQLite's JSON path (quoted) and
PostgreSQL's jsonb read them alike."""
CURRENCY = re.compile(r"[A-Z]{3}")
SEVERITY_RANK = {Severity.LOW: 1, Severity.MEDIUM: 2, Severity.HIGH: 3}
OPEN_TASK_STATUSES = ("open", "snoozed")


class Op(StrEnum):
    EQ = "eq"
    NE = "ne"
    LT = "lt"
    LTE = "lte"
    GT = "gt"
    GTE = "gte"
    IN = "in"
    NOT_IN = "not_in"
    INCLUDES = "includes"
    NOT_INCLUDES = "not_includes"
    EXISTS = "exists"
    NOT_EXISTS = "not_exists"


ORDERING = (Op.LT, Op.LTE, Op.GT, Op.GTE)
COMPARISONS: dict[Op, Callable[[Any, Any], Any]] = {
    Op.EQ: operator.eq,
    Op.LT: operator.lt,
    Op.LTE: operator.le,
    Op.GT: operator.gt,
    Op.GTE: operator.ge,
}
"""What each comparison means: on Python values in `evaluate`, on SQL expressions when compiled."""
NEGATED = {Op.NE: Op.EQ, Op.NOT_IN: Op.IN, Op.NOT_INCLUDES: Op.INCLUDES, Op.NOT_EXISTS: Op.EXISTS}
"""Each negative op is the exact negation of its positive one."""


class ValueType(StrEnum):
    TEXT = "text"  # a string
    ID = "id"  # a UUID, written as a string
    NUMBER = "number"  # a 64-bit float
    INTEGER = "integer"  # a whole number (days, counts)
    DECIMAL = "decimal"  # exact, as a string or a number, at most 4 decimal places
    JSON = "json"  # a client attribute: a string, number or boolean, compared by JSON type
    SIGNALS = "signals"  # the set of the client's open signals


class FieldName(StrEnum):
    NAME = "name"
    TIER = "tier"
    STAGE = "stage"
    STATUS = "status"
    OWNER_ID = "owner_id"
    ATTRIBUTE = "attributes.<key>"
    SCORE = "health.score"
    BAND = "health.band"
    GROUP = "health.groups.<name>"
    SCORE_CHANGE = "health.score_change"
    SIGNALS_OPEN = "signals.open"
    SIGNALS_OPEN_COUNT = "signals.open_count"
    MRR = "mrr"
    DAYS_TO_RENEWAL = "days_to_renewal"
    DAYS_SINCE_TOUCHPOINT = "days_since_touchpoint"
    TASKS_OPEN_COUNT = "tasks.open_count"


_EQUALITY = (Op.EQ, Op.NE, Op.IN, Op.NOT_IN)
NULL_OPS = (Op.EXISTS, Op.NOT_EXISTS)
_COMPARE = (Op.EQ, Op.NE, *ORDERING)


@dataclass(frozen=True)
class FieldSpec:
    """One readable field: its value type, whether it can be null, the ops it accepts and the
    extra leaf members it requires (`days`, `currency`)."""

    name: FieldName
    type: ValueType
    nullable: bool
    ops: tuple[Op, ...]
    description: str
    params: tuple[str, ...] = ()

    def document(self) -> dict[str, Any]:
        return {
            "field": self.name.value,
            "type": self.type.value,
            "nullable": self.nullable,
            "ops": [op.value for op in self.ops],
            "params": list(self.params),
            "description": self.description,
        }


FIELDS: tuple[FieldSpec, ...] = (
    FieldSpec(FieldName.NAME, ValueType.TEXT, False, _EQUALITY, "The client's name."),
    FieldSpec(FieldName.TIER, ValueType.TEXT, True, _EQUALITY + NULL_OPS, "The client's tier."),
    FieldSpec(FieldName.STAGE, ValueType.TEXT, False, _EQUALITY, "The lifecycle stage."),
    FieldSpec(FieldName.STATUS, ValueType.TEXT, False, _EQUALITY, "`active` or `churned`."),
    FieldSpec(
        FieldName.OWNER_ID, ValueType.ID, True, _EQUALITY + NULL_OPS, "The owner's id, or none."
    ),
    FieldSpec(
        FieldName.ATTRIBUTE,
        ValueType.JSON,
        True,
        (*_COMPARE, Op.IN, Op.NOT_IN, *NULL_OPS),
        "A key of the client's attributes. `eq`/`ne`/`in` match a value of the same JSON type "
        '(the string "5" is not the number 5, `true` is not 1); `lt`...`gte` take a number and '
        "hold only for a number attribute, both compared as 64-bit floats; `exists` means "
        "present and not null. Keys: letters, digits and `_ . : -`, at most 64.",
    ),
    FieldSpec(
        FieldName.SCORE,
        ValueType.NUMBER,
        True,
        _COMPARE + NULL_OPS,
        "The latest stored health score (0-100); null before the first score or when unknown.",
    ),
    FieldSpec(
        FieldName.BAND, ValueType.TEXT, True, _EQUALITY + NULL_OPS, "The latest stored band."
    ),
    FieldSpec(
        FieldName.GROUP,
        ValueType.NUMBER,
        True,
        _COMPARE + NULL_OPS,
        "A group score of the latest stored snapshot (e.g. `health.groups.engagement`).",
    ),
    FieldSpec(
        FieldName.SCORE_CHANGE,
        ValueType.NUMBER,
        True,
        _COMPARE + NULL_OPS,
        "The latest score minus the score in force `days` ago (the newest snapshot computed "
        f"at or before then); null when either is missing. Requires `days` (1-{MAX_CHANGE_DAYS}).",
        params=("days",),
    ),
    FieldSpec(
        FieldName.SIGNALS_OPEN,
        ValueType.SIGNALS,
        False,
        (Op.INCLUDES, Op.NOT_INCLUDES),
        "The client's unresolved signals (open or acknowledged). The value is a kind "
        '(`"gone_quiet"`) or `{"kind"?: ..., "min_severity"?: "low"|"medium"|"high"}`.',
    ),
    FieldSpec(
        FieldName.SIGNALS_OPEN_COUNT,
        ValueType.INTEGER,
        False,
        _COMPARE,
        "How many unresolved signals the client has.",
    ),
    FieldSpec(
        FieldName.MRR,
        ValueType.DECIMAL,
        False,
        _COMPARE,
        "Monthly recurring revenue now in `currency` (required, e.g. `USD`) from live active "
        "contracts; 0 when none. The value is a decimal string or number.",
        params=("currency",),
    ),
    FieldSpec(
        FieldName.DAYS_TO_RENEWAL,
        ValueType.INTEGER,
        True,
        _COMPARE + NULL_OPS,
        "Days from today (UTC) to the nearest end date, today or later, of an active contract; "
        "null when there is none.",
    ),
    FieldSpec(
        FieldName.DAYS_SINCE_TOUCHPOINT,
        ValueType.INTEGER,
        True,
        _COMPARE + NULL_OPS,
        "Whole days since the last logged touchpoint; null when there was never one.",
    ),
    FieldSpec(
        FieldName.TASKS_OPEN_COUNT,
        ValueType.INTEGER,
        False,
        _COMPARE,
        "How many of the client's tasks are open or snoozed.",
    ),
)
SPECS = {spec.name: spec for spec in FIELDS}
DAY_FIELDS = frozenset({FieldName.DAYS_TO_RENEWAL, FieldName.DAYS_SINCE_TOUCHPOINT})
KEYED = {"attributes.": FieldName.ATTRIBUTE, "health.groups.": FieldName.GROUP}


def fields_document() -> list[dict[str, Any]]:
    """The catalogue as JSON, for the API's documentation of conditions."""
    return [spec.document() for spec in FIELDS]
