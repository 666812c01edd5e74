"""Every measure's aggregate for many clients in one statement, as of a moment.

One statement per scorecard and batch of clients: the clients joined to one grouped pass over
the events in the longest window (counts, sums, averages, both halves of trends), one grouped
pass for last moments (`days_since`), one per `latest_value` (the newest row per client), one
for open tickets (per ticket, latest open against latest resolve) and one over contracts for
MRR. Each reads only the batch's clients, the needed types and, where it can, the window, so
the (client_id, type, occurred_at) index serves it. Raw events never leave the database.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, Contract, Event
from app.db.types import ScaledDecimal, UTCDateTime
from app.domain.scorecards import CLIENT_DATES, Measure, MeasureKind

TICKET_OPENED = "ticket_opened"
TICKET_RESOLVED = "ticket_resolved"


@dataclass(frozen=True)
class Selection:
    """Which clients a statement reads: the listed ids, or (`first`, `last`) every client of
    the workspace with an id in that range, for a batch taken in id order: a range is two
    parameters where a list of thousands of ids would be thousands."""

    ids: tuple[uuid.UUID, ...] = ()
    first: uuid.UUID | None = None
    last: uuid.UUID | None = None

    @classmethod
    def of(cls, ids: Sequence[uuid.UUID]) -> "Selection":
        return cls(ids=tuple(ids))

    @classmethod
    def span(cls, ordered_ids: Sequence[uuid.UUID]) -> "Selection":
        return cls(first=ordered_ids[0], last=ordered_ids[-1])

    def __bool__(self) -> bool:
        return bool(self.ids) or self.first is not None

    def where(self, column: Any) -> sa.ColumnElement[bool]:
        if self.first is not None and self.last is not None:
            return sa.and_(column >= self.first, column <= self.last)
        return column.in_(self.ids)  # type: ignore[no-any-return]


@dataclass(frozen=True)
class AsOf:
    """`at`: events that occurred by then count. `known_by`: and only those recorded by then
    (a point-in-time read); None counts everything stored now (backfill, backtest)."""

    at: datetime
    known_by: datetime | None = None


def _events_where(
    workspace_id: uuid.UUID, clients: Selection, as_of: AsOf, types: Sequence[str]
) -> list[sa.ColumnElement[bool]]:
    conditions = [
        Event.workspace_id == workspace_id,
        clients.where(Event.client_id),
        Event.type.in_(sorted(set(types))),
        Event.occurred_at <= as_of.at,
    ]
    if as_of.known_by is not None:
        conditions.append(Event.received_at <= as_of.known_by)
    return conditions


def _within(measure: Measure, at: datetime, *, previous: bool = False) -> sa.ColumnElement[bool]:
    days = timedelta(days=measure.window_days or 0)
    start, end = (at - 2 * days, at - days) if previous else (at - days, at)
    return sa.and_(
        Event.type.in_(measure.events), Event.occurred_at > start, Event.occurred_at <= end
    )


def _windowed(measure: Measure, at: datetime, *, previous: bool = False) -> Any:
    where = _within(measure, at, previous=previous)
    kind = measure.trend_of if measure.kind is MeasureKind.TREND else measure.kind
    if kind is MeasureKind.COUNT:
        return sa.func.count().filter(where)
    if kind is MeasureKind.SUM:
        return sa.func.sum(Event.value).filter(where)
    return sa.func.avg(Event.value).filter(where)


def aggregate_statement(
    workspace_id: uuid.UUID,
    measures: Sequence[Measure],
    clients: Selection,
    as_of: AsOf,
) -> tuple[sa.Select[Any], dict[str, str]]:
    """The statement, and for each measure key the result column (or prefix) holding it."""
    at = as_of.at
    # Only the client fields some measure reads: attributes are JSON to decode per row.
    fields = {m.attribute for m in measures if m.attribute}
    columns: list[Any] = [Client.id.label("client_id")]
    columns += [getattr(Client, f) for f in ("tier", "lifecycle_stage", "status") if f in fields]
    columns += [getattr(Client, f) for f in CLIENT_DATES if f in fields]
    if fields - {"mrr", "tier", "lifecycle_stage", "status", *CLIENT_DATES}:
        columns.append(Client.attributes)
    stmt_from: Any = Client
    names: dict[str, str] = {}

    windowed = [m for m in measures if m.kind in (MeasureKind.COUNT, MeasureKind.SUM)]
    windowed += [m for m in measures if m.kind in (MeasureKind.AVERAGE, MeasureKind.TREND)]
    if windowed:
        reach = max(
            (m.window_days or 0) * (2 if m.kind is MeasureKind.TREND else 1) for m in windowed
        )
        parts: list[Any] = [Event.client_id.label("cid")]
        for i, m in enumerate(windowed):
            parts.append(_windowed(m, at).label(f"w{i}"))
            if m.kind is MeasureKind.TREND:
                parts.append(_windowed(m, at, previous=True).label(f"w{i}_prev"))
        where = _events_where(workspace_id, clients, as_of, [t for m in windowed for t in m.events])
        window = (
            sa.select(*parts)
            .where(*where, Event.occurred_at > at - timedelta(days=reach))
            .group_by(Event.client_id)
            .subquery("w")
        )
        stmt_from = sa.outerjoin(stmt_from, window, window.c.cid == Client.id)
        for i, m in enumerate(windowed):
            columns.append(window.c[f"w{i}"])
            names[m.key] = f"w{i}"
            if m.kind is MeasureKind.TREND:
                columns.append(window.c[f"w{i}_prev"])

    recency = [m for m in measures if m.kind is MeasureKind.DAYS_SINCE and m.events]
    if recency:
        parts = [Event.client_id.label("cid")]
        for i, m in enumerate(recency):
            last = sa.func.max(Event.occurred_at).filter(Event.type.in_(m.events))
            parts.append(sa.type_coerce(last, UTCDateTime()).label(f"d{i}"))
        where = _events_where(workspace_id, clients, as_of, [t for m in recency for t in m.events])
        last_seen = sa.select(*parts).where(*where).group_by(Event.client_id).subquery("d")
        stmt_from = sa.outerjoin(stmt_from, last_seen, last_seen.c.cid == Client.id)
        for i, m in enumerate(recency):
            columns.append(last_seen.c[f"d{i}"])
            names[m.key] = f"d{i}"

    for i, m in enumerate(m for m in measures if m.kind is MeasureKind.LATEST_VALUE):
        where = _events_where(workspace_id, clients, as_of, m.events)
        if m.max_age_days is not None:
            where.append(Event.occurred_at > at - timedelta(days=m.max_age_days))
        rank = sa.func.row_number().over(
            partition_by=Event.client_id, order_by=(Event.occurred_at.desc(), Event.id.desc())
        )
        ranked = (
            sa.select(Event.client_id.label("cid"), Event.value, rank.label("rn"))
            .where(*where)
            .subquery(f"lr{i}")
        )
        newest = (
            sa.select(ranked.c.cid, ranked.c.value.label(f"l{i}"))
            .where(ranked.c.rn == 1)
            .subquery(f"l{i}")
        )
        stmt_from = sa.outerjoin(stmt_from, newest, newest.c.cid == Client.id)
        columns.append(newest.c[f"l{i}"])
        names[m.key] = f"l{i}"

    if any(m.kind is MeasureKind.OPEN_TICKETS for m in measures):
        where = _events_where(workspace_id, clients, as_of, [TICKET_OPENED, TICKET_RESOLVED])
        opened = sa.func.max(Event.occurred_at).filter(Event.type == TICKET_OPENED)
        resolved = sa.func.max(Event.occurred_at).filter(Event.type == TICKET_RESOLVED)
        per_ticket = (
            sa.select(
                Event.client_id.label("cid"),
                opened.label("opened"),
                resolved.label("resolved"),
            )
            .where(*where)
            .group_by(Event.client_id, Event.properties["ticket_id"].as_string())
            .subquery("pt")
        )
        still_open = sa.and_(
            per_ticket.c.opened.is_not(None),
            sa.or_(per_ticket.c.resolved.is_(None), per_ticket.c.opened > per_ticket.c.resolved),
        )
        tickets = (
            sa.select(per_ticket.c.cid, sa.func.count().filter(still_open).label("open_tickets"))
            .group_by(per_ticket.c.cid)
            .subquery("t")
        )
        stmt_from = sa.outerjoin(stmt_from, tickets, tickets.c.cid == Client.id)
        columns.append(tickets.c.open_tickets)
        for m in measures:
            if m.kind is MeasureKind.OPEN_TICKETS:
                names[m.key] = "open_tickets"

    if any(m.kind is MeasureKind.ATTRIBUTE and m.attribute == "mrr" for m in measures):
        day = at.date()
        live = sa.and_(
            Contract.status == "active",
            Contract.starts_on <= day,
            sa.or_(Contract.ends_on.is_(None), Contract.ends_on >= day),
        )
        revenue = (
            sa.select(
                Contract.client_id.label("cid"),
                sa.type_coerce(sa.func.sum(Contract.amount).filter(live), ScaledDecimal()).label(
                    "mrr"
                ),
                sa.func.count().label("contracts"),
            )
            .where(Contract.workspace_id == workspace_id, clients.where(Contract.client_id))
            .group_by(Contract.client_id)
            .subquery("m")
        )
        stmt_from = sa.outerjoin(stmt_from, revenue, revenue.c.cid == Client.id)
        columns += [revenue.c.mrr, revenue.c.contracts]

    stmt = (
        sa.select(*columns)
        .select_from(stmt_from)
        .where(Client.workspace_id == workspace_id, clients.where(Client.id))
    )
    return stmt, names


async def measure_aggregates(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    measures: Sequence[Measure],
    clients: Selection,
    as_of: AsOf,
) -> dict[uuid.UUID, dict[str, object]]:
    """For each client, each measure's aggregate: a last moment (`days_since`), a number, a
    (current, previous) pair (`trend`), a value (`attribute`), or None for no data."""
    if not clients:
        return {}
    stmt, names = aggregate_statement(workspace_id, measures, clients, as_of)
    rows = (await session.execute(stmt)).mappings().all()
    return {row["client_id"]: _client_aggregates(row, measures, names, as_of) for row in rows}


def _client_aggregates(
    row: Any, measures: Sequence[Measure], names: dict[str, str], as_of: AsOf
) -> dict[str, object]:
    values: dict[str, object] = {}
    for m in measures:
        column = names.get(m.key)
        match m.kind:
            case MeasureKind.COUNT | MeasureKind.SUM:
                values[m.key] = float(row[column] or 0)
            case MeasureKind.AVERAGE | MeasureKind.LATEST_VALUE:
                got = row[column]
                values[m.key] = None if got is None else float(got)
            case MeasureKind.TREND:
                values[m.key] = (float(row[column] or 0), float(row[f"{column}_prev"] or 0))
            case MeasureKind.OPEN_TICKETS:
                got = row[column]
                values[m.key] = None if got is None else float(got)
            case MeasureKind.DAYS_SINCE:
                moment = row[m.attribute] if m.attribute in CLIENT_DATES else row[column]
                values[m.key] = moment if moment is not None and moment <= as_of.at else None
            case MeasureKind.ATTRIBUTE:
                values[m.key] = _attribute(row, m.attribute or "")
    return values


def _attribute(row: Any, name: str) -> object:
    if name == "mrr":
        if not row["contracts"]:
            return None
        total: Decimal | None = row["mrr"]
        return total if total is not None else Decimal(0)
    if name in ("tier", "lifecycle_stage", "status"):
        return row[name]
    value = (row["attributes"] or {}).get(name)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return float(value)
    return value if isinstance(value, str) else None
