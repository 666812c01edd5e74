"""A trigger condition compiled to one SQL statement over a workspace's portfolio, meaning
exactly what `app.domain.conditions.evaluate` means for one client.

Every leaf compiles to a *definite* predicate (true or false, never NULL): a nullable operand is
guarded (`x IS NOT NULL AND x = v`) or wrapped (`COALESCE(x = v, false)`), so `NOT` negates as
Python's `not` does. Only what the condition reads is joined or nested, as a hand-written
statement would: the latest snapshot when a health field appears; `EXISTS` (a semi- or
anti-join to the planner) for an open signal, a renewal within N days, a count compared with 0
or 1; one grouped subquery per aggregate (MRR in a currency, the nearest renewal, other counts),
LEFT JOINed and limited to the page's clients; a correlated `LIMIT 1` per score-change leaf (the
score N days ago). Indexes that serve them: `ix_signals_client_id_kind_unresolved`,
`ix_contracts_workspace_id_client_id`, `ix_tasks_workspace_id_client_id_status`,
`ix_health_scores_client_id_computed_at`.
Day counts become bounds on the stored dates, so no date arithmetic runs in SQL and SQLite
and PostgreSQL agree to the microsecond. Attributes (and group scores) compare within their JSON
type on both engines: strings as text, numbers as 64-bit floats, booleans as booleans.
"""

import json
import uuid
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.functions import in_ids
from app.db.models import Client, Contract, HealthSnapshot, Signal, Task
from app.domain.condition_fields import (
    AMOUNT_PLACES,
    COMPARISONS,
    NEGATED,
    OPEN_TASK_STATUSES,
    FieldName,
    Op,
)
from app.domain.condition_tree import severities_from
from app.domain.conditions import (
    MATCH_ALL,
    All,
    Condition,
    Leaf,
    Not,
    SignalMatch,
    holds,
    today_of,
)

Predicate = sa.ColumnElement[bool]


class ConditionQuery:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def matching_client_ids(
        self,
        workspace_id: uuid.UUID,
        condition: Condition | None,
        now: datetime,
        *,
        after: uuid.UUID | None = None,
        limit: int | None = None,
        among: Sequence[uuid.UUID] | None = None,
    ) -> list[uuid.UUID]:
        """The workspace's clients the condition holds for, in id order after `after` (a keyset
        page of `limit`), optionally only those `among` the given ids. One statement."""
        if among is not None and not among:
            return []
        dialect = self.session.get_bind().dialect.name
        stmt = condition_statement(
            workspace_id, condition, now, dialect, after=after, limit=limit, among=among
        )
        # Core, not the ORM: a sweep reads up to a whole portfolio of bare ids.
        connection = await self.session.connection()
        return list((await connection.execute(stmt)).scalars().all())


def condition_statement(
    workspace_id: uuid.UUID,
    condition: Condition | None,
    now: datetime,
    dialect: str,
    *,
    after: uuid.UUID | None = None,
    limit: int | None = None,
    among: Sequence[uuid.UUID] | None = None,
) -> sa.Select[uuid.UUID]:
    """The SELECT of client ids behind `matching_client_ids` (for benchmarks and EXPLAIN)."""
    ids = sorted(set(among)) if among is not None else None
    compiler = _Compiler(workspace_id, now, dialect, after, ids)
    where = compiler.predicate(condition or MATCH_ALL)
    source: Any = Client
    if compiler.latest is not None:
        latest = compiler.latest
        on = sa.and_(latest.client_id == Client.id, latest.latest.is_(True))
        source = sa.outerjoin(source, latest, on)
    for grouped in compiler.grouped.values():
        source = sa.outerjoin(source, grouped, grouped.c.client_id == Client.id)
    stmt = (
        sa.select(Client.id)
        .select_from(source)
        .where(*compiler.scope(Client.id), where)
        .order_by(Client.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return stmt


class _Compiler:
    def __init__(
        self,
        workspace_id: uuid.UUID,
        now: datetime,
        dialect: str,
        after: uuid.UUID | None,
        among: list[uuid.UUID] | None,
    ) -> None:
        self.workspace_id = workspace_id
        self.now = now
        self.today = today_of(now)
        self.after = after
        self.among = among
        self.json = _PostgresJson() if dialect == "postgresql" else _SqliteJson()
        self.latest: Any = None
        self.aliases = 0
        self.grouped: dict[tuple[Any, ...], Any] = {}
        """One grouped subquery per aggregate read, joined once however often it is read."""

    def scope(self, client_id: Any) -> list[Predicate]:
        """The clients a statement reads: the workspace's, after the page key, among the ids.
        Repeated inside each grouped subquery so it aggregates only the clients in reach."""
        where: list[Predicate] = []
        if client_id is Client.id:
            where.append(Client.workspace_id == self.workspace_id)
        if self.after is not None:
            where.append(client_id > self.after)
        if self.among is not None:
            where.append(in_ids(client_id, self.among))
        return where

    def compare_aggregate(
        self,
        key: tuple[Any, ...],
        client_id: Any,
        value: Any,
        rows: list[Predicate],
        op: Op,
        bound: Any,
        empty: int | None,
        top: bool,
    ) -> Predicate:
        """`value op bound`, `value` aggregated per client over `rows` (`empty` for a client
        without any: 0 for a sum or a count, NULL for a minimum). Where a client without rows
        cannot pass and the clause is a top-level conjunct, `id IN (… GROUP BY … HAVING …)`,
        a semi-join; elsewhere one grouped subquery per aggregate, LEFT JOINed: one hash join
        over the rows either way, never a subquery run for each client."""
        if top and not (empty is not None and holds(op, empty, bound)):
            passing = (
                sa.select(client_id)
                .where(*rows, *self.scope(client_id))
                .group_by(client_id)
                .having(_compare(value, op, bound))
            )
            return Client.id.in_(passing)
        if key not in self.grouped:
            self.grouped[key] = (
                sa.select(client_id.label("client_id"), value.label("value"))
                .where(*rows, *self.scope(client_id))
                .group_by(client_id)
                .subquery(f"agg{len(self.grouped) + 1}")
            )
        total = self.grouped[key].c.value
        if empty is None:
            return _wrapped(total, op, bound)
        return _compare(sa.func.coalesce(total, empty), op, bound)

    def predicate(self, condition: Condition, *, top: bool = True) -> Predicate:
        """`top`: the predicate is the WHERE clause or one of its conjuncts, so a client must
        pass it; a subquery there may become a semi-join that filters before joining."""
        if isinstance(condition, Leaf):
            if condition.op in NEGATED:
                positive = replace(condition, op=NEGATED[condition.op])
                return sa.not_(self.leaf(positive, top=False))
            return self.leaf(condition, top=top)
        if isinstance(condition, Not):
            return sa.not_(self.predicate(condition.child, top=False))
        if not condition.children:
            return sa.true()
        if isinstance(condition, All):
            return sa.and_(*(self.predicate(child, top=top) for child in condition.children))
        return sa.or_(*(self.predicate(child, top=False) for child in condition.children))

    def snapshot(self) -> Any:
        if self.latest is None:
            self.latest = aliased(HealthSnapshot, name="latest")
        return self.latest

    def leaf(self, leaf: Leaf, *, top: bool) -> Predicate:
        """A positive leaf (eq, lt…, in, includes, exists) as a definite predicate."""
        op, value = leaf.op, leaf.value
        match leaf.name:
            case FieldName.NAME:
                return _compare(Client.name, op, value)
            case FieldName.STAGE:
                return _compare(Client.lifecycle_stage, op, value)
            case FieldName.STATUS:
                return _compare(Client.status, op, value)
            case FieldName.TIER:
                return _guarded(Client.tier, op, value)
            case FieldName.OWNER_ID:
                return _guarded(Client.owner_id, op, value)
            case FieldName.SCORE:
                return _guarded(self.snapshot().score, op, value)
            case FieldName.BAND:
                return _guarded(self.snapshot().band, op, value)
            case FieldName.GROUP:
                number = self.json.number(self.snapshot().groups, leaf.key or "")
                return _wrapped(number, op, value)
            case FieldName.ATTRIBUTE:
                return self.attribute(leaf)
            case FieldName.SCORE_CHANGE:
                change = self.snapshot().score - self.score_then(leaf.days or 1)
                return _wrapped(change, op, value)
            case FieldName.SIGNALS_OPEN:
                return self.signals_exist(value)
            case FieldName.SIGNALS_OPEN_COUNT:
                rows = [Signal.workspace_id == self.workspace_id, Signal.resolved_at.is_(None)]
                return self.count(leaf.name, Signal.client_id, rows, op, value, top)
            case FieldName.TASKS_OPEN_COUNT:
                rows = [Task.workspace_id == self.workspace_id, Task.status.in_(OPEN_TASK_STATUSES)]
                return self.count(leaf.name, Task.client_id, rows, op, value, top)
            case FieldName.MRR:
                return self.mrr(leaf.currency or "", op, value, top)
            case FieldName.DAYS_TO_RENEWAL:
                return self.renewal(op, value, top)
            case FieldName.DAYS_SINCE_TOUCHPOINT:
                return _days_since(Client.last_touchpoint_at, self.now, op, value)
        raise AssertionError(f"no SQL for {leaf.name}")  # pragma: no cover

    def attribute(self, leaf: Leaf) -> Predicate:
        doc, key, op = Client.attributes, leaf.key or "", leaf.op
        if op is Op.EXISTS:
            return self.json.present(doc, key)
        if op is Op.IN:
            return sa.or_(*(self.json.equals(doc, key, item) for item in leaf.value))
        if op is Op.EQ:
            return self.json.equals(doc, key, leaf.value)
        return _wrapped(self.json.number(doc, key), op, float(leaf.value))

    def score_then(self, days: int) -> Any:
        """The score of the newest snapshot computed at or before `days` ago (NULL if none)."""
        self.aliases += 1
        then = aliased(HealthSnapshot, name=f"then{self.aliases}")
        return (
            sa.select(then.score)
            .where(
                then.client_id == Client.id,
                then.computed_at <= self.now - timedelta(days=days),
            )
            .order_by(then.computed_at.desc(), then.id.desc())
            .limit(1)
            .scalar_subquery()
        )

    def signals_exist(self, match: SignalMatch) -> Predicate:
        where = [
            Signal.workspace_id == self.workspace_id,
            Signal.client_id == Client.id,
            Signal.resolved_at.is_(None),
        ]
        if match.kind is not None:
            where.append(Signal.kind == match.kind)
        if match.min_severity is not None:
            where.append(Signal.severity.in_(severities_from(match.min_severity)))
        return sa.exists().where(*where)

    def count(
        self, name: FieldName, client_id: Any, rows: list[Predicate], op: Op, value: int, top: bool
    ) -> Predicate:
        """`count(rows) op value`, as EXISTS / NOT EXISTS where that says the same (the
        planner runs them as semi- and anti-joins), else a grouped count."""
        exists = sa.exists().where(*rows, client_id == Client.id)
        at_least: int | None = None  # count >= at_least
        at_most: int | None = None  # count <= at_most
        if op is Op.GTE:
            at_least = value
        elif op is Op.GT:
            at_least = value + 1
        elif op is Op.LTE:
            at_most = value
        elif op is Op.LT:
            at_most = value - 1
        if at_least is not None:
            if at_least <= 0:
                return sa.true()
            if at_least == 1:
                return exists
        if at_most is not None:
            if at_most < 0:
                return sa.false()
            if at_most == 0:
                return sa.not_(exists)
        if op is Op.EQ and value <= 0:
            return sa.not_(exists) if value == 0 else sa.false()
        return self.compare_aggregate((name,), client_id, sa.func.count(), rows, op, value, 0, top)

    def active_contracts(self) -> list[Predicate]:
        return [Contract.workspace_id == self.workspace_id, Contract.status == "active"]

    def mrr(self, currency: str, op: Op, value: Decimal, top: bool) -> Predicate:
        """The sum, in the stored 10^-4 units, of the live active contracts in the currency:
        `app.domain.contracts.is_live` (started, not past `ends_on`, inclusive); 0 for none."""
        live = [
            *self.active_contracts(),
            Contract.currency == currency,
            Contract.starts_on <= self.today,
            sa.or_(Contract.ends_on.is_(None), Contract.ends_on >= self.today),
        ]
        units = sa.func.sum(sa.type_coerce(Contract.amount, sa.BigInteger))
        bound = int(value.scaleb(AMOUNT_PLACES))
        key = (FieldName.MRR, currency)
        return self.compare_aggregate(key, Contract.client_id, units, live, op, bound, 0, top)

    def renewal(self, op: Op, days: int, top: bool) -> Predicate:
        """Days to the nearest `ends_on` >= today of an active contract, as bounds on that date:
        `days op v` is `renewal op today + v`."""
        upcoming = [*self.active_contracts(), Contract.ends_on >= self.today]
        if op is Op.EXISTS:
            return sa.exists().where(*upcoming, Contract.client_id == Client.id)
        bound = self.today + timedelta(days=days)
        if op in (Op.LT, Op.LTE):  # some renewal falls before the bound
            within = Contract.ends_on < bound if op is Op.LT else Contract.ends_on <= bound
            return sa.exists().where(*upcoming, within, Contract.client_id == Client.id)
        nearest = sa.func.min(Contract.ends_on)
        key = (FieldName.DAYS_TO_RENEWAL,)
        return self.compare_aggregate(
            key, Contract.client_id, nearest, upcoming, op, bound, None, top
        )


def _compare(column: Any, op: Op, value: Any) -> Predicate:
    """A comparison (or `in`) on a never-NULL operand: already definite."""
    if op is Op.IN:
        return column.in_(value)  # type: ignore[no-any-return]
    return COMPARISONS[op](column, value)  # type: ignore[no-any-return]


def _guarded(column: Any, op: Op, value: Any) -> Predicate:
    """A nullable column: `x IS NOT NULL AND x op v` is false, not NULL, when x is NULL, and
    keeps `x op v` sargable for an index."""
    if op is Op.EXISTS:
        return column.is_not(None)  # type: ignore[no-any-return]
    return sa.and_(column.is_not(None), _compare(column, op, value))


def _wrapped(expression: Any, op: Op, value: Any) -> Predicate:
    """A computed, nullable operand (a subquery, a difference, a JSON extraction)."""
    if op is Op.EXISTS:
        return expression.is_not(None)  # type: ignore[no-any-return]
    return sa.func.coalesce(_compare(expression, op, value), sa.false(), type_=sa.Boolean)


def _days_since(column: Any, now: datetime, op: Op, days: int) -> Predicate:
    """Whole days since a moment, `(now - t).days` (floored), as bounds on `t`:
    days >= v exactly when t <= now - v days, and days < v exactly when t > now - v days."""
    if op is Op.EXISTS:
        return column.is_not(None)  # type: ignore[no-any-return]

    def at_least(v: int) -> Predicate:
        return column <= now - timedelta(days=v)  # type: ignore[no-any-return]

    def below(v: int) -> Predicate:
        return column > now - timedelta(days=v)  # type: ignore[no-any-return]

    match op:
        case Op.GTE:
            bound = at_least(days)
        case Op.GT:
            bound = at_least(days + 1)
        case Op.LT:
            bound = below(days)
        case Op.LTE:
            bound = below(days + 1)
        case Op.EQ:
            bound = sa.and_(at_least(days), below(days + 1))
        case _:
            raise AssertionError(f"not a comparison: {op}")  # pragma: no cover
    return sa.and_(column.is_not(None), bound)


class _PostgresJson:
    """jsonb: `jsonb_typeof` tells strings, numbers and booleans apart; the CASE keeps a cast
    from ever meeting a value of another type."""

    def _type(self, doc: Any, key: str) -> Any:
        return sa.func.jsonb_typeof(sa.func.jsonb_extract_path(doc, _text(key)))

    def _text(self, doc: Any, key: str) -> Any:
        return sa.func.jsonb_extract_path_text(doc, _text(key), type_=sa.String)

    def present(self, doc: Any, key: str) -> Predicate:
        return sa.func.coalesce(self._type(doc, key), "null") != "null"

    def number(self, doc: Any, key: str) -> Any:
        as_float = sa.cast(self._text(doc, key), sa.Float)
        return sa.case((self._type(doc, key) == "number", as_float), else_=None)

    def equals(self, doc: Any, key: str, value: Any) -> Predicate:
        """A string or a boolean is equal as jsonb (type and value, byte for byte); a number
        as a float, as Python compares: jsonb's exact numeric would tell 2^53 from 2^53 + 1."""
        if not isinstance(value, bool | str):
            return _wrapped(self.number(doc, key), Op.EQ, float(value))
        node = sa.func.jsonb_extract_path(doc, _text(key), type_=JSONB)
        return _wrapped(node, Op.EQ, sa.cast(sa.literal(json.dumps(value), sa.String), JSONB))


class _SqliteJson:
    """SQLite's JSON1: `json_type` names `text`, `integer`/`real`, `true`/`false`, `null`;
    keys are quoted in the path, which is why condition keys are limited to plain characters."""

    def _type(self, doc: Any, key: str) -> Any:
        return sa.func.json_type(doc, _path(key), type_=sa.String)

    def present(self, doc: Any, key: str) -> Predicate:
        return sa.func.coalesce(self._type(doc, key), "null") != "null"

    def number(self, doc: Any, key: str) -> Any:
        as_float = sa.cast(sa.func.json_extract(doc, _path(key)), sa.Float)
        return sa.case((self._type(doc, key).in_(("integer", "real")), as_float), else_=None)

    def equals(self, doc: Any, key: str, value: Any) -> Predicate:
        kind = self._type(doc, key)
        if isinstance(value, bool):
            return sa.func.coalesce(
                kind == ("true" if value else "false"), sa.false(), type_=sa.Boolean
            )
        if isinstance(value, str):
            text = sa.case((kind == "text", sa.func.json_extract(doc, _path(key))), else_=None)
            return _wrapped(sa.type_coerce(text, sa.String), Op.EQ, value)
        return _wrapped(self.number(doc, key), Op.EQ, float(value))


def _text(key: str) -> Any:
    return sa.literal(key, sa.String)


def _path(key: str) -> Any:
    return sa.literal(f'$."{key}"', sa.String)
