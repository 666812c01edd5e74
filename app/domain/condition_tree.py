"""A condition's tree, parsed from its JSON document with every problem at once (each at a JSON
pointer), and written back in canonical form. The language itself: `app.domain.conditions`."""

import math
import uuid
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeGuard

from app.domain.condition_fields import (
    AMOUNT_PLACES,
    CURRENCY,
    DAY_FIELDS,
    KEY,
    KEYED,
    MAX_AMOUNT,
    MAX_CHANGE_DAYS,
    MAX_COUNT,
    MAX_DAYS,
    MAX_DEPTH,
    MAX_LEAVES,
    MAX_LIST,
    MAX_PROBLEMS,
    MAX_TEXT,
    NULL_OPS,
    ORDERING,
    SEVERITY_RANK,
    SPECS,
    FieldName,
    FieldSpec,
    Op,
    ValueType,
)
from app.domain.limits import text_fault
from app.domain.signals import Severity


@dataclass(frozen=True)
class OpenSignal:
    """One of a client's unresolved signals, as a condition sees it."""

    kind: str
    severity: str


@dataclass(frozen=True)
class SignalMatch:
    """An open signal of this kind (any kind when None) at this severity or above."""

    kind: str | None = None
    min_severity: Severity | None = None

    def matches(self, signal: "OpenSignal") -> bool:
        if self.kind is not None and signal.kind != self.kind:
            return False
        return self.min_severity is None or signal.severity in severities_from(self.min_severity)


@dataclass(frozen=True)
class Leaf:
    """One comparison. `field` is the name as written (`attributes.plan`), `key` the attribute
    or group name it carries, `value` the value normalised to its type (a tuple for lists)."""

    field: str
    name: FieldName
    op: Op
    value: Any = None
    key: str | None = None
    days: int | None = None
    currency: str | None = None

    @property
    def ref(self) -> str:
        """How the values an evaluation read are keyed: the field and its parameters."""
        if self.days is not None:
            return f"{self.field}(days={self.days})"
        if self.currency is not None:
            return f"{self.field}(currency={self.currency})"
        return self.field


@dataclass(frozen=True)
class All:
    children: tuple["Condition", ...]


@dataclass(frozen=True)
class AnyOf:
    children: tuple["Condition", ...]


@dataclass(frozen=True)
class Not:
    child: "Condition"


Condition = Leaf | All | AnyOf | Not
MATCH_ALL = All(())
"""The empty condition (`None` or `{}`): every client matches."""


def severities_from(least: Severity) -> tuple[str, ...]:
    """The severities at `least` or above, as stored strings."""
    return tuple(s.value for s, rank in SEVERITY_RANK.items() if rank >= SEVERITY_RANK[least])


def leaves(condition: Condition | None) -> list[Leaf]:
    if condition is None:
        return []
    if isinstance(condition, Leaf):
        return [condition]
    if isinstance(condition, Not):
        return leaves(condition.child)
    return [leaf for child in condition.children for leaf in leaves(child)]


# --- parsing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ConditionProblem:
    """`pointer` is a JSON pointer into the condition document ("" is its root)."""

    pointer: str
    message: str


class ConditionInvalid(ValueError):
    def __init__(self, problems: list[ConditionProblem]) -> None:
        super().__init__("; ".join(f"{p.pointer or '/'}: {p.message}" for p in problems[:5]))
        self.problems = problems


def parse_condition(document: Any) -> Condition:
    """The condition a document describes; `None` and `{}` match every client. Raises
    ConditionInvalid with every problem found, each at its JSON pointer."""
    if document is None or document == {}:
        return MATCH_ALL
    parser = _Parser()
    condition = parser.node(document, "", 1)
    if parser.leaf_count > MAX_LEAVES:
        parser.report("", f"has {parser.leaf_count} leaves; at most {MAX_LEAVES}")
    if parser.problems:
        problems = parser.problems
        if len(problems) > MAX_PROBLEMS:
            more = len(problems) - MAX_PROBLEMS
            problems = [*problems[:MAX_PROBLEMS], ConditionProblem("", f"and {more} more")]
        raise ConditionInvalid(problems)
    assert condition is not None  # no problems means every node parsed
    return condition


_NODE_KEYS = ("all", "any", "not")
_OPS = frozenset(op.value for op in Op)
_LEAF_KEYS = frozenset({"field", "op", "value", "days", "currency"})


class _Parser:
    def __init__(self) -> None:
        self.problems: list[ConditionProblem] = []
        self.leaf_count = 0

    def report(self, pointer: str, message: str) -> None:
        self.problems.append(ConditionProblem(pointer, message))

    def node(self, doc: Any, at: str, depth: int) -> Condition | None:
        if not isinstance(doc, dict):
            self.report(at, "must be an object: a leaf, or one of `all`, `any`, `not`")
            return None
        if depth > MAX_DEPTH:
            self.report(at, f"nests deeper than {MAX_DEPTH} levels")
            return None
        combinators = [k for k in _NODE_KEYS if k in doc]
        if combinators:
            if len(doc) != 1:
                extra = ", ".join(sorted(k for k in doc if k != combinators[0]))
                self.report(at, f"`{combinators[0]}` stands alone; remove: {extra}")
            kind = combinators[0]
            if kind == "not":
                child = self.node(doc["not"], f"{at}/not", depth + 1)
                return Not(child) if child is not None else None
            return self.group(kind, doc[kind], f"{at}/{kind}", depth)
        if "field" not in doc and "op" not in doc:
            self.report(at, "must be a leaf (`field`, `op`, `value`) or `all`, `any`, `not`")
            return None
        self.leaf_count += 1
        return self.leaf(doc, at)

    def group(self, kind: str, items: Any, at: str, depth: int) -> Condition | None:
        if not isinstance(items, list):
            self.report(at, "must be a list of conditions")
            return None
        if not items:
            self.report(at, "must not be empty")
            return None
        children = [self.node(item, f"{at}/{i}", depth + 1) for i, item in enumerate(items)]
        if any(c is None for c in children):
            return None
        kept = tuple(c for c in children if c is not None)
        return All(kept) if kind == "all" else AnyOf(kept)

    def leaf(self, doc: dict[str, Any], at: str) -> Leaf | None:
        before = len(self.problems)
        for extra in sorted(set(doc) - _LEAF_KEYS):
            self.report(f"{at}/{_escape(extra)}", "unknown member of a leaf")
        spec, key = self.field(doc.get("field"), f"{at}/field")
        op = self.op(doc.get("op"), spec, f"{at}/op")
        days = self.param(doc, "days", spec, at)
        currency = self.param(doc, "currency", spec, at)
        value = None
        if spec is not None and op is not None:
            value = self.value(doc, spec, op, f"{at}/value")
        elif op in NULL_OPS and "value" in doc:
            self.report(f"{at}/value", f"`{op.value}` takes no value")
        if len(self.problems) > before or spec is None or op is None:
            return None
        return Leaf(str(doc["field"]), spec.name, op, value, key, days, currency)

    def field(self, name: Any, at: str) -> tuple[FieldSpec | None, str | None]:
        if not isinstance(name, str):
            self.report(at, "must name a field (see the field catalogue)")
            return None, None
        for prefix, field_name in KEYED.items():
            if name.startswith(prefix):
                key = name[len(prefix) :]
                if not KEY.fullmatch(key):
                    self.report(
                        at,
                        "the key must be 1-64 letters, digits or `_ . : -`, not starting "
                        "with a punctuation mark",
                    )
                    return None, None
                return SPECS[field_name], key
        if name not in SPECS:
            self.report(at, f"unknown field {_quote(name)} (see the field catalogue)")
            return None, None
        return SPECS[FieldName(name)], None

    def op(self, name: Any, spec: FieldSpec | None, at: str) -> Op | None:
        if not isinstance(name, str) or name not in _OPS:
            self.report(at, f"must be one of: {', '.join(o.value for o in Op)}")
            return None
        op = Op(name)
        if spec is not None and op not in spec.ops:
            allowed = ", ".join(o.value for o in spec.ops)
            self.report(at, f"`{op.value}` does not apply to {spec.name.value}; use: {allowed}")
            return None
        return op

    def param(self, doc: dict[str, Any], name: str, spec: FieldSpec | None, at: str) -> Any:
        present = name in doc
        if spec is None:
            return None
        if name not in spec.params:
            if present:
                self.report(f"{at}/{name}", f"{spec.name.value} takes no `{name}`")
            return None
        if not present:
            self.report(at, f"{spec.name.value} requires `{name}`")
            return None
        got = doc[name]
        if name == "days":
            if _whole(got) and 1 <= got <= MAX_CHANGE_DAYS:
                return got
            self.report(f"{at}/days", f"must be a whole number of days, 1-{MAX_CHANGE_DAYS}")
            return None
        if isinstance(got, str) and CURRENCY.fullmatch(got):
            return got
        self.report(f"{at}/currency", "must be a three-letter currency code (ISO 4217, `USD`)")
        return None

    def value(self, doc: dict[str, Any], spec: FieldSpec, op: Op, at: str) -> Any:
        """The leaf's value in its type (a tuple for a list); problems are reported."""
        if op in NULL_OPS:
            if "value" in doc:
                self.report(at, f"`{op.value}` takes no value")
            return None
        if "value" not in doc:
            self.report(at, f"`{op.value}` needs a value")
            return None
        raw = doc["value"]
        if op not in (Op.IN, Op.NOT_IN):
            return self.scalar(raw, spec, op, at)
        if not isinstance(raw, list) or not raw:
            self.report(at, f"must be a non-empty list (at most {MAX_LIST} items)")
        elif len(raw) > MAX_LIST:
            self.report(at, f"has {len(raw)} items; at most {MAX_LIST}")
        else:
            return tuple(self.scalar(item, spec, op, f"{at}/{i}") for i, item in enumerate(raw))
        return None

    def scalar(self, raw: Any, spec: FieldSpec, op: Op, at: str) -> Any:
        """The value in its type, or None after reporting why not."""
        kind = spec.type
        if kind is ValueType.JSON and op in ORDERING:
            kind = ValueType.NUMBER
        message: str
        match kind:
            case ValueType.TEXT:
                if isinstance(raw, str) and 0 < len(raw) <= MAX_TEXT and not text_fault(raw):
                    return raw
                message = f"must be a non-empty string of at most {MAX_TEXT} characters"
            case ValueType.ID:
                if isinstance(raw, str):
                    try:
                        return uuid.UUID(raw)
                    except ValueError:
                        pass
                message = "must be an id (a UUID string)"
            case ValueType.NUMBER:
                if is_number(raw) and math.isfinite(raw):
                    return float(raw)
                message = "must be a finite number"
            case ValueType.INTEGER:
                bound = MAX_DAYS if spec.name in DAY_FIELDS else MAX_COUNT
                if _whole(raw) and -bound <= raw <= bound:
                    return raw
                message = f"must be a whole number within ±{bound}"
            case ValueType.DECIMAL:
                amount = _decimal(raw)
                if amount is not None:
                    return amount
                message = (
                    f"must be a decimal (string or number) below {MAX_AMOUNT:.0e} in magnitude, "
                    f"with at most {AMOUNT_PLACES} decimal places"
                )
            case ValueType.JSON:
                if isinstance(raw, bool) or (is_number(raw) and math.isfinite(raw)):
                    return raw
                if isinstance(raw, str) and len(raw) <= MAX_TEXT and not text_fault(raw):
                    return raw
                message = "must be a string, number or boolean"
            case ValueType.SIGNALS:
                got = _signal_match(raw)
                if got is not None:
                    return got
                message = (
                    'must be a signal kind or {"kind"?: ..., "min_severity"?: '
                    '"low"|"medium"|"high"} with at least one of them'
                )
        self.report(at, message)
        return None


def _whole(raw: Any) -> bool:
    return isinstance(raw, int) and not isinstance(raw, bool)


def is_number(raw: Any) -> TypeGuard[int | float]:
    """A JSON number: Python's bool is an int, JSON's is not."""
    return isinstance(raw, int | float) and not isinstance(raw, bool)


def _decimal(raw: Any) -> Decimal | None:
    if is_number(raw) and math.isfinite(raw):
        text = str(raw)
    elif isinstance(raw, str) and len(raw) <= 40:
        text = raw.strip()
    else:
        return None
    try:
        amount = Decimal(text)
    except InvalidOperation:
        return None
    exponent = amount.as_tuple().exponent
    if not amount.is_finite() or abs(amount) >= MAX_AMOUNT or not isinstance(exponent, int):
        return None
    return amount if exponent >= -AMOUNT_PLACES else None


def _signal_match(raw: Any) -> SignalMatch | None:
    if isinstance(raw, str):
        return SignalMatch(raw) if 0 < len(raw) <= 32 and not text_fault(raw) else None
    if not isinstance(raw, dict) or not raw or set(raw) - {"kind", "min_severity"}:
        return None
    kind, least = raw.get("kind"), raw.get("min_severity")
    if kind is not None and not (isinstance(kind, str) and 0 < len(kind) <= 32):
        return None
    if kind is not None and text_fault(kind):
        return None
    if least is not None and least not in Severity.__members__.values():
        return None
    return SignalMatch(kind, Severity(least) if least is not None else None)


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _quote(text: str) -> str:
    return repr(text[:80])


# --- canonical form --------------------------------------------------------------------------


def condition_document(condition: Condition | None) -> dict[str, Any]:
    """The canonical JSON of a parsed condition: `parse_condition` reads it back unchanged."""
    if condition is None or condition == MATCH_ALL:
        return {}
    if isinstance(condition, All):
        return {"all": [condition_document(c) for c in condition.children]}
    if isinstance(condition, AnyOf):
        return {"any": [condition_document(c) for c in condition.children]}
    if isinstance(condition, Not):
        return {"not": condition_document(condition.child)}
    doc: dict[str, Any] = {"field": condition.field, "op": condition.op.value}
    if condition.op not in NULL_OPS:
        doc["value"] = _json_value(condition.value)
    if condition.days is not None:
        doc["days"] = condition.days
    if condition.currency is not None:
        doc["currency"] = condition.currency
    return doc


def _json_value(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_json_value(v) for v in value]
    if isinstance(value, uuid.UUID | Decimal):
        return str(value)
    if isinstance(value, SignalMatch):
        if value.min_severity is None and value.kind is not None:
            return value.kind
        doc: dict[str, str] = {}
        if value.kind is not None:
            doc["kind"] = value.kind
        if value.min_severity is not None:
            doc["min_severity"] = value.min_severity.value
        return doc
    return value
