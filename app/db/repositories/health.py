"""Stored health: snapshots, each client's latest, the portfolio, overrides."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, HealthSnapshot, Workspace
from app.db.repositories.health_aggregates import Selection
from app.db.repositories.paging import Page, SortKey, paginate
from app.domain.pagination import Cursor, InvalidCursor, decode_cursor, encode_cursor

HISTORY_SORT = SortKey(HealthSnapshot.computed_at, descending=True)
SNAPSHOT_COLUMNS = (
    HealthSnapshot.client_id,
    HealthSnapshot.score,
    HealthSnapshot.band,
    HealthSnapshot.scorecard_id,
    HealthSnapshot.scorecard_version,
)
NO_VALUE = -1000.0


@dataclass(frozen=True)
class ClientRef:
    id: uuid.UUID
    tier: str | None
    acquired_at: datetime | None = None
    churned_at: datetime | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class PortfolioFilters:
    band: str | None = None
    tier: str | None = None
    owner_id: uuid.UUID | None = None


@dataclass(frozen=True)
class PortfolioRow:
    score: HealthSnapshot | None
    client_id: uuid.UUID
    client_name: str
    tier: str | None
    owner_id: uuid.UUID | None
    change: float | None


class HealthRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def clients(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID]
    ) -> list[ClientRef]:
        if not client_ids:
            return []
        stmt = (
            sa.select(Client.id, Client.tier)
            .where(Client.workspace_id == workspace_id, Client.id.in_(client_ids))
            .order_by(Client.id)
        )
        return [ClientRef(i, t) for i, t in (await self.session.execute(stmt)).all()]

    async def client_batch(
        self,
        workspace_id: uuid.UUID,
        after: uuid.UUID | None,
        limit: int,
        *,
        existing_at: datetime | None = None,
    ) -> list[ClientRef]:
        """The next clients in id order; `existing_at` leaves out those acquired later."""
        stmt = sa.select(
            Client.id, Client.tier, Client.acquired_at, Client.churned_at, Client.created_at
        ).where(Client.workspace_id == workspace_id)
        if after is not None:
            stmt = stmt.where(Client.id > after)
        if existing_at is not None:
            stmt = stmt.where(
                sa.or_(Client.acquired_at.is_(None), Client.acquired_at <= existing_at)
            )
        stmt = stmt.order_by(Client.id).limit(limit)
        return [ClientRef(*row) for row in (await self.session.execute(stmt)).all()]

    async def count_clients(self, workspace_id: uuid.UUID) -> int:
        stmt = sa.select(sa.func.count()).where(Client.workspace_id == workspace_id)
        return int(await self.session.scalar(stmt) or 0)

    async def churn_facts(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, datetime | None]:
        stmt = sa.select(Client.id, Client.churned_at).where(
            Client.workspace_id == workspace_id, Client.id.in_(client_ids)
        )
        return dict((await self.session.execute(stmt)).all())

    async def names(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        stmt = sa.select(Client.id, Client.name).where(
            Client.workspace_id == workspace_id, Client.id.in_(client_ids)
        )
        return dict((await self.session.execute(stmt)).all())

    async def latest(self, workspace_id: uuid.UUID, clients: Selection) -> dict[uuid.UUID, Any]:
        """Each client's latest score, band and version as a plain row: no ORM objects and no
        explanation on the batch path."""
        if not clients:
            return {}
        stmt = sa.select(*SNAPSHOT_COLUMNS).where(
            HealthSnapshot.workspace_id == workspace_id,
            clients.where(HealthSnapshot.client_id),
            HealthSnapshot.latest.is_(True),
        )
        return {row.client_id: row for row in (await self.session.execute(stmt)).all()}

    async def contributions(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, dict[str, float]]:
        """Each measure's contribution in the clients' latest snapshots (for deltas)."""
        if not client_ids:
            return {}
        stmt = sa.select(HealthSnapshot.client_id, HealthSnapshot.measures).where(
            HealthSnapshot.workspace_id == workspace_id,
            HealthSnapshot.client_id.in_(client_ids),
            HealthSnapshot.latest.is_(True),
        )
        rows = (await self.session.execute(stmt)).all()
        return {c: {m["key"]: m["contribution"] for m in measures} for c, measures in rows}

    async def latest_at(
        self, workspace_id: uuid.UUID, client_id: uuid.UUID, at: datetime
    ) -> HealthSnapshot | None:
        """The snapshot in force at `at`: the newest computed at or before it."""
        stmt = (
            sa.select(HealthSnapshot)
            .where(
                HealthSnapshot.workspace_id == workspace_id,
                HealthSnapshot.client_id == client_id,
                HealthSnapshot.computed_at <= at,
            )
            .order_by(HealthSnapshot.computed_at.desc(), HealthSnapshot.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def highest_since(
        self, workspace_id: uuid.UUID, clients: Selection, since: datetime
    ) -> dict[uuid.UUID, float]:
        if not clients:
            return {}
        stmt = (
            sa.select(HealthSnapshot.client_id, sa.func.max(HealthSnapshot.score))
            .where(
                HealthSnapshot.workspace_id == workspace_id,
                clients.where(HealthSnapshot.client_id),
                HealthSnapshot.computed_at >= since,
                HealthSnapshot.score.is_not(None),
            )
            .group_by(HealthSnapshot.client_id)
        )
        rows = (await self.session.execute(stmt)).all()
        return {c: float(s) for c, s in rows if s is not None}

    async def workspace_ids(self) -> list[uuid.UUID]:
        stmt = sa.select(Workspace.id).order_by(Workspace.id)
        return list((await self.session.scalars(stmt)).all())

    async def before(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID], at: datetime
    ) -> dict[uuid.UUID, HealthSnapshot]:
        """Each client's snapshot in force just before `at` (computed strictly earlier)."""
        if not client_ids:
            return {}
        ranked = (
            sa.select(
                HealthSnapshot.id,
                sa.func.row_number()
                .over(
                    partition_by=HealthSnapshot.client_id,
                    order_by=(HealthSnapshot.computed_at.desc(), HealthSnapshot.id.desc()),
                )
                .label("rn"),
            )
            .where(
                HealthSnapshot.workspace_id == workspace_id,
                HealthSnapshot.client_id.in_(client_ids),
                HealthSnapshot.computed_at < at,
            )
            .subquery()
        )
        stmt = sa.select(HealthSnapshot).where(
            HealthSnapshot.id.in_(sa.select(ranked.c.id).where(ranked.c.rn == 1))
        )
        return {s.client_id: s for s in (await self.session.scalars(stmt)).all()}

    async def store(self, rows: Sequence[dict[str, Any]]) -> None:
        """New latest snapshots: the clients' previous latest rows step down first."""
        if not rows:
            return
        await self.session.execute(
            sa.update(HealthSnapshot)
            .where(
                HealthSnapshot.client_id.in_([r["client_id"] for r in rows]),
                HealthSnapshot.latest.is_(True),
            )
            .values(latest=False)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(sa.insert(HealthSnapshot), [{**r, "latest": True} for r in rows])

    async def insert_history(self, rows: Sequence[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(
                sa.insert(HealthSnapshot), [{**r, "latest": False} for r in rows]
            )

    async def delete_backfill(
        self, workspace_id: uuid.UUID, scorecard_id: uuid.UUID, start: datetime, end: datetime
    ) -> None:
        await self.session.execute(
            sa.delete(HealthSnapshot).where(
                HealthSnapshot.workspace_id == workspace_id,
                HealthSnapshot.scorecard_id == scorecard_id,
                HealthSnapshot.source == "backfill",
                HealthSnapshot.computed_at >= start,
                HealthSnapshot.computed_at <= end,
            )
        )

    async def relabel_latest(self, workspace_id: uuid.UUID) -> None:
        """After history was written out of order: each client's newest row is its latest."""
        ranked = (
            sa.select(
                HealthSnapshot.id,
                sa.func.row_number()
                .over(
                    partition_by=HealthSnapshot.client_id,
                    order_by=(HealthSnapshot.computed_at.desc(), HealthSnapshot.id.desc()),
                )
                .label("rn"),
            )
            .where(HealthSnapshot.workspace_id == workspace_id)
            .subquery()
        )
        await self.session.execute(
            sa.update(HealthSnapshot)
            .where(HealthSnapshot.workspace_id == workspace_id)
            .values(latest=HealthSnapshot.id.in_(sa.select(ranked.c.id).where(ranked.c.rn == 1)))
            .execution_options(synchronize_session=False)
        )

    async def history(
        self,
        workspace_id: uuid.UUID,
        client_id: uuid.UUID,
        *,
        start: datetime | None,
        end: datetime | None,
        cursor: str | None,
        limit: int,
    ) -> Page[HealthSnapshot]:
        stmt = sa.select(HealthSnapshot).where(
            HealthSnapshot.workspace_id == workspace_id, HealthSnapshot.client_id == client_id
        )
        if start is not None:
            stmt = stmt.where(HealthSnapshot.computed_at >= start)
        if end is not None:
            stmt = stmt.where(HealthSnapshot.computed_at <= end)
        return await paginate(
            self.session,
            stmt,
            id_column=HealthSnapshot.id,
            sort="-computed_at",
            key=HISTORY_SORT,
            cursor=cursor,
            limit=limit,
        )

    async def portfolio(
        self,
        workspace_id: uuid.UUID,
        filters: PortfolioFilters,
        *,
        sort: str,
        since: datetime,
        cursor: str | None,
        limit: int,
    ) -> Page[PortfolioRow]:
        """Every client with its latest snapshot (None before its first evaluation); `change`
        is its score minus the score in force at `since`. Keyset pages over (sort value, id)."""
        before = sa.orm.aliased(HealthSnapshot, name="before")
        then = (
            sa.select(before.score)
            .where(before.client_id == Client.id, before.computed_at <= since)
            .order_by(before.computed_at.desc(), before.id.desc())
            .limit(1)
            .correlate(Client)
            .scalar_subquery()
        )
        change = HealthSnapshot.score - then
        order_value = change if sort in ("change", "-change") else HealthSnapshot.score
        # No score or change sorts as if lowest: first ascending, last descending.
        key = sa.func.coalesce(order_value, NO_VALUE)
        descending = sort.startswith("-")
        stmt = (
            sa.select(
                HealthSnapshot, Client.id, Client.name, Client.tier, Client.owner_id, change, key
            )
            .select_from(Client)
            .outerjoin(
                HealthSnapshot,
                sa.and_(HealthSnapshot.client_id == Client.id, HealthSnapshot.latest.is_(True)),
            )
            .where(Client.workspace_id == workspace_id)
        )
        if filters.band is not None:
            stmt = stmt.where(HealthSnapshot.band == filters.band)
        if filters.tier is not None:
            stmt = stmt.where(Client.tier == filters.tier)
        if filters.owner_id is not None:
            stmt = stmt.where(Client.owner_id == filters.owner_id)
        if cursor is not None:
            values = decode_cursor(cursor, sort).values
            try:
                boundary_value, boundary_id = float(values[0]), uuid.UUID(str(values[1]))
            except (ValueError, TypeError, IndexError) as exc:
                raise InvalidCursor("the cursor is not one this API issued") from exc
            after = sa.tuple_(key, Client.id)
            boundary = sa.tuple_(
                sa.literal(boundary_value, sa.Double()), sa.literal(boundary_id, sa.Uuid())
            )
            stmt = stmt.where(after < boundary if descending else after > boundary)
        if descending:
            stmt = stmt.order_by(key.desc(), Client.id.desc())
        else:
            stmt = stmt.order_by(key.asc(), Client.id.asc())
        rows = (await self.session.execute(stmt.limit(limit + 1))).all()
        items = [
            PortfolioRow(score=s, client_id=i, client_name=n, tier=t, owner_id=o, change=c)
            for s, i, n, t, o, c, _ in rows[:limit]
        ]
        has_more = len(rows) > limit
        next_cursor = None
        if has_more:
            last = rows[limit - 1]
            next_cursor = encode_cursor(Cursor(sort=sort, values=[float(last[6]), str(last[1])]))
        return Page(items=items, next_cursor=next_cursor, has_more=has_more)
