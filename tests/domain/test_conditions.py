"""The condition language on plain values: parsing (every problem, each at its pointer), the
canonical document, and evaluation with the values it read."""

import uuid
from dataclasses import replace
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from app.domain.conditions import (
    FIELDS,
    MATCH_ALL,
    ClientView,
    ConditionInvalid,
    OpenSignal,
    ScorePoint,
    condition_document,
    evaluate,
    fields_document,
    parse_condition,
)

NOW = datetime(2026, 6, 15, 12, 0, 0, 250_000, tzinfo=UTC)
OWNER = uuid.UUID("00000000-0000-4000-8000-000000000001")


def view(**overrides: Any) -> ClientView:
    base = ClientView(
        client_id=uuid.UUID("00000000-0000-4000-8000-0000000000aa"),
        as_of=NOW,
        name="Acme",
        stage="adoption",
        status="active",
    )
    return replace(base, **overrides)


def leaf(field: str, op: str, value: Any = None, **extra: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {"field": field, "op": op, **extra}
    if value is not None:
        doc["value"] = value
    return doc


def holds(doc: Any, client: ClientView) -> bool:
    return evaluate(parse_condition(doc), client).matched


def problems(doc: Any) -> list[tuple[str, str]]:
    with pytest.raises(ConditionInvalid) as caught:
        parse_condition(doc)
    return [(p.pointer, p.message) for p in caught.value.problems]


class TestParsing:
    def test_none_and_the_empty_object_match_every_client(self) -> None:
        assert parse_condition(None) == MATCH_ALL
        assert parse_condition({}) == MATCH_ALL
        assert evaluate(MATCH_ALL, view()).matched
        assert evaluate(None, view()).matched

    def test_every_problem_is_reported_at_its_pointer_at_once(self) -> None:
        doc = {
            "all": [
                leaf("colour", "eq", "red"),
                leaf("tier", "lt", "mid"),
                {"any": []},
                leaf("health.score_change", "lt", -5),
                leaf("mrr", "gte", "10.00001", currency="usd"),
                leaf("owner_id", "in", ["not-an-id", str(OWNER)]),
                {"not": leaf("days_since_touchpoint", "gte", 2.5)},
                leaf("attributes.plan", "exists", "yes"),
                leaf("tier", "eq", "mid", extra=1),
            ]
        }
        assert problems(doc) == [
            ("/all/0/field", "unknown field 'colour' (see the field catalogue)"),
            (
                "/all/1/op",
                "`lt` does not apply to tier; use: eq, ne, in, not_in, exists, not_exists",
            ),
            ("/all/2/any", "must not be empty"),
            ("/all/3", "health.score_change requires `days`"),
            ("/all/4/currency", "must be a three-letter currency code (ISO 4217, `USD`)"),
            (
                "/all/4/value",
                "must be a decimal (string or number) below 1e+14 in magnitude, "
                "with at most 4 decimal places",
            ),
            ("/all/5/value/0", "must be an id (a UUID string)"),
            ("/all/6/not/value", "must be a whole number within ±36500"),
            ("/all/7/value", "`exists` takes no value"),
            ("/all/8/extra", "unknown member of a leaf"),
        ]

    def test_days_is_required_and_bounded_for_score_change_and_refused_elsewhere(self) -> None:
        assert problems(leaf("health.score_change", "lt", 0, days=0)) == [
            ("/days", "must be a whole number of days, 1-365")
        ]
        assert problems(leaf("health.score", "lt", 0, days=7)) == [
            ("/days", "health.score takes no `days`")
        ]
        assert problems(leaf("mrr", "gt", 1)) == [("", "mrr requires `currency`")]

    def test_value_types_follow_the_field(self) -> None:
        assert problems(leaf("health.score", "gt", "50")) == [("/value", "must be a finite number")]
        assert problems(leaf("health.score", "gt", True)) == [("/value", "must be a finite number")]
        assert problems(leaf("tasks.open_count", "gt", 1.5))[0][0] == "/value"
        assert problems(leaf("attributes.seats", "gt", "5")) == [
            ("/value", "must be a finite number")
        ]
        assert problems(leaf("attributes.plan", "eq", {"a": 1})) == [
            ("/value", "must be a string, number or boolean")
        ]
        assert problems(leaf("tier", "in", [])) == [
            ("/value", "must be a non-empty list (at most 100 items)")
        ]
        assert problems(leaf("tier", "eq")) == [("/value", "`eq` needs a value")]
        assert problems(leaf("signals.open", "includes", {"min_severity": "dire"}))[0][0] == (
            "/value"
        )

    def test_shapes_that_are_no_condition(self) -> None:
        assert problems([]) == [("", "must be an object: a leaf, or one of `all`, `any`, `not`")]
        assert problems({"colour": "red"}) == [
            ("", "must be a leaf (`field`, `op`, `value`) or `all`, `any`, `not`")
        ]
        assert problems({"all": [leaf("tier", "exists")], "not": {}}) == [
            ("", "`all` stands alone; remove: not")
        ]
        assert problems({"any": leaf("tier", "exists")}) == [
            ("/any", "must be a list of conditions")
        ]
        assert problems(leaf("attributes.a b", "exists"))[0][0] == "/field"
        assert problems(leaf("attributes.<key>", "exists"))[0][0] == "/field"

    def test_depth_and_size_are_capped(self) -> None:
        deep: dict[str, Any] = leaf("tier", "exists")
        for _ in range(8):
            deep = {"not": deep}
        assert problems(deep) == [
            ("/not/not/not/not/not/not/not/not", "nests deeper than 8 levels")
        ]
        wide = {"any": [leaf("tier", "exists")] * 101}
        assert problems(wide) == [("", "has 101 leaves; at most 100")]
        parse_condition({"any": [leaf("tier", "exists")] * 100})

    def test_a_condition_wrong_everywhere_reports_a_bounded_list(self) -> None:
        wrong = {"any": [leaf("nope", "nope")] * 100}
        reported = problems(wrong)
        assert len(reported) == 101
        assert reported[-1] == ("", "and 100 more")

    def test_the_canonical_document_reads_back_unchanged(self) -> None:
        doc = {
            "all": [
                leaf("tier", "in", ["mid", "smb"]),
                {"not": leaf("signals.open", "includes", "gone_quiet")},
                leaf("signals.open", "includes", {"min_severity": "high"}),
                leaf("mrr", "gte", 2500.5, currency="USD"),
                leaf("owner_id", "eq", str(OWNER).upper()),
                leaf("health.score_change", "lte", -10, days=30),
                leaf("attributes.beta", "eq", True),
                leaf("days_to_renewal", "exists"),
            ]
        }
        condition = parse_condition(doc)
        canonical = condition_document(condition)
        assert canonical["all"][3] == {
            "field": "mrr",
            "op": "gte",
            "value": "2500.5",
            "currency": "USD",
        }
        assert canonical["all"][4]["value"] == str(OWNER)
        assert canonical["all"][5]["value"] == -10.0
        assert parse_condition(canonical) == condition
        assert condition_document(MATCH_ALL) == {}

    def test_the_catalogue_documents_every_field_with_its_ops(self) -> None:
        documented = {f["field"]: f for f in fields_document()}
        assert len(documented) == len(FIELDS)
        assert documented["health.score_change"]["params"] == ["days"]
        assert documented["signals.open"]["ops"] == ["includes", "not_includes"]
        assert all(f["description"] for f in documented.values())


class TestNulls:
    """Null fails every positive op; the negative ops are their exact negations."""

    def test_a_missing_tier_is_neither_equal_nor_in_but_is_not_equal(self) -> None:
        client = view(tier=None)
        assert not holds(leaf("tier", "eq", "mid"), client)
        assert not holds(leaf("tier", "in", ["mid"]), client)
        assert holds(leaf("tier", "ne", "mid"), client)
        assert holds(leaf("tier", "not_in", ["mid"]), client)
        assert holds(leaf("tier", "not_exists"), client)
        assert holds({"not": leaf("tier", "eq", "mid")}, client)

    def test_no_score_fails_both_sides_of_a_threshold(self) -> None:
        client = view(score=None)
        assert not holds(leaf("health.score", "lt", 50), client)
        assert not holds(leaf("health.score", "gte", 50), client)
        assert holds({"not": leaf("health.score", "lt", 50)}, client)


class TestAttributes:
    def test_values_compare_within_their_json_type(self) -> None:
        client = view(attributes={"seats": 5, "code": "5", "beta": True, "ratio": 0.5})
        assert holds(leaf("attributes.seats", "eq", 5.0), client)
        assert not holds(leaf("attributes.seats", "eq", "5"), client)
        assert holds(leaf("attributes.code", "eq", "5"), client)
        assert not holds(leaf("attributes.code", "gt", 1), client)
        assert holds(leaf("attributes.beta", "eq", True), client)
        assert not holds(leaf("attributes.beta", "eq", 1), client)
        assert not holds(leaf("attributes.seats", "eq", True), client)
        assert holds(leaf("attributes.ratio", "lt", 1), client)
        assert holds(leaf("attributes.seats", "in", ["x", 5, False]), client)

    def test_null_and_missing_do_not_exist(self) -> None:
        client = view(attributes={"gone": None, "list": [1]})
        assert holds(leaf("attributes.gone", "not_exists"), client)
        assert holds(leaf("attributes.missing", "not_exists"), client)
        assert holds(leaf("attributes.list", "exists"), client)
        assert holds(leaf("attributes.missing", "ne", "x"), client)


class TestDerivedFields:
    def test_days_since_the_last_touchpoint_counts_whole_days(self) -> None:
        client = view(last_touchpoint_at=NOW - timedelta(days=30, microseconds=-1))
        assert evaluate(
            parse_condition(leaf("days_since_touchpoint", "eq", 29)), client
        ).values == {"days_since_touchpoint": 29}
        assert holds(
            leaf("days_since_touchpoint", "gte", 30),
            view(last_touchpoint_at=NOW - timedelta(days=30)),
        )
        assert not holds(leaf("days_since_touchpoint", "gte", 0), view())

    def test_days_to_renewal_counts_from_today_utc(self) -> None:
        client = view(next_renewal_on=date(2026, 7, 15))
        assert holds(leaf("days_to_renewal", "eq", 30), client)
        assert not holds(leaf("days_to_renewal", "lte", 90), view())

    def test_score_change_is_against_the_snapshot_in_force_then(self) -> None:
        a, b = uuid.UUID(int=1), uuid.UUID(int=2)
        then = NOW - timedelta(days=7)
        client = view(
            score=60.0,
            score_history=(
                ScorePoint(then - timedelta(days=3), a, 90.0),
                ScorePoint(then, a, 75.0),
                ScorePoint(then, b, 80.0),  # same moment: the larger id is the newer
                ScorePoint(then + timedelta(seconds=1), a, 10.0),
            ),
        )
        result = evaluate(parse_condition(leaf("health.score_change", "lt", -15, days=7)), client)
        assert result.matched
        assert result.values == {"health.score_change(days=7)": -20.0}
        assert not holds(leaf("health.score_change", "exists", days=30), client)

    def test_mrr_is_per_currency_and_zero_without_contracts(self) -> None:
        client = view(mrr={"USD": Decimal("2500.5")})
        assert holds(leaf("mrr", "gte", "2500.50", currency="USD"), client)
        assert holds(leaf("mrr", "eq", 0, currency="EUR"), client)

    def test_open_signals_by_kind_and_least_severity(self) -> None:
        client = view(open_signals=(OpenSignal("gone_quiet", "medium"), OpenSignal("x", "high")))
        assert holds(leaf("signals.open", "includes", "gone_quiet"), client)
        assert not holds(
            leaf("signals.open", "includes", {"kind": "gone_quiet", "min_severity": "high"}), client
        )
        assert holds(leaf("signals.open", "includes", {"min_severity": "high"}), client)
        assert holds(leaf("signals.open", "not_includes", "usage_drop"), client)
        assert holds(leaf("signals.open_count", "eq", 2), client)


class TestRecordedValues:
    def test_every_leaf_is_read_and_recorded_even_after_the_answer_is_known(self) -> None:
        client = view(
            tier="mid", owner_id=OWNER, open_tasks=2, open_signals=(OpenSignal("a", "low"),)
        )
        doc = {
            "any": [
                leaf("tier", "eq", "mid"),
                leaf("owner_id", "exists"),
                leaf("tasks.open_count", "gt", 5),
                leaf("signals.open", "includes", "a"),
                leaf("mrr", "gt", 0, currency="USD"),
            ]
        }
        assert evaluate(parse_condition(doc), client) == evaluate(parse_condition(doc), client)
        result = evaluate(parse_condition(doc), client)
        assert result.matched
        assert result.values == {
            "tier": "mid",
            "owner_id": str(OWNER),
            "tasks.open_count": 2,
            "signals.open": [{"kind": "a", "severity": "low"}],
            "mrr(currency=USD)": "0",
        }
