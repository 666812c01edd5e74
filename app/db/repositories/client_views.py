"""What a trigger condition reads about many clients, in five statements whatever their number:
the clients with their latest snapshot, a year of score history, open signals, contracts and
open task counts; only the first when the condition reads none of the others. The SQL path
(`app.db.repositories.conditions`) reads the same rows."""

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, Contract, HealthSnapshot, Signal, Task
from app.domain.conditions import (
    MAX_CHANGE_DAYS,
    OPEN_TASK_STATUSES,
    ClientView,
    FieldName,
    OpenSignal,
    ScorePoint,
    today_of,
)
from app.domain.contracts import ContractStatus, ContractTerms, mrr, next_renewal_on

VIEW_PARTS = {
    FieldName.SCORE_CHANGE: "history",
    FieldName.SIGNALS_OPEN: "signals",
    FieldName.SIGNALS_OPEN_COUNT: "signals",
    FieldName.MRR: "contracts",
    FieldName.DAYS_TO_RENEWAL: "contracts",
    FieldName.TASKS_OPEN_COUNT: "tasks",
}
"""The fields read from a statement of their own; every other field is on the client's row."""


def view_columns(snapshot: Any = HealthSnapshot) -> tuple[Any, ...]:
    """A view's row: the client's columns and its latest snapshot's (`snapshot`, outer-joined
    on `latest`), for `ClientViewRepository.views`."""
    return (
        Client.id,
        Client.name,
        Client.lifecycle_stage,
        Client.status,
        Client.tier,
        Client.owner_id,
        Client.attributes,
        Client.last_touchpoint_at,
        snapshot.score,
        snapshot.band,
        snapshot.groups,
    )


class ClientViewRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def load(
        self,
        workspace_id: uuid.UUID,
        client_ids: Sequence[uuid.UUID],
        now: datetime,
        *,
        reads: Collection[FieldName] | None = None,
    ) -> dict[uuid.UUID, ClientView]:
        """A view of each listed client of the workspace as of `now` (others are left out).
        With `reads` (the fields a condition reads), what no field of it reads is left empty."""
        ids = sorted(set(client_ids))
        if not ids:
            return {}
        return await self.views(workspace_id, await self._clients(workspace_id, ids), now, reads)

    async def views(
        self,
        workspace_id: uuid.UUID,
        clients: Mapping[uuid.UUID, Any],
        now: datetime,
        reads: Collection[FieldName] | None = None,
    ) -> dict[uuid.UUID, ClientView]:
        """Views of clients whose rows (`view_columns`, by id) were read already, with the
        other parts `reads` names (all of them when None) in a statement each."""
        if not clients:
            return {}
        ids = sorted(clients)
        fields = VIEW_PARTS if reads is None else reads
        parts = {VIEW_PARTS[f] for f in fields if f in VIEW_PARTS}
        history = await self._history(workspace_id, ids, now) if "history" in parts else {}
        signals = await self._signals(workspace_id, ids) if "signals" in parts else {}
        contracts = await self._contracts(workspace_id, ids) if "contracts" in parts else {}
        tasks = await self._open_tasks(workspace_id, ids) if "tasks" in parts else {}
        today = today_of(now)
        views = {}
        for client_id, row in clients.items():
            terms = contracts.get(client_id, [])
            views[client_id] = ClientView(
                client_id=client_id,
                as_of=now,
                name=row.name,
                stage=row.lifecycle_stage,
                status=row.status,
                tier=row.tier,
                owner_id=row.owner_id,
                attributes=row.attributes or {},
                score=row.score,
                band=row.band,
                groups=row.groups or {},
                score_history=tuple(history.get(client_id, ())),
                open_signals=tuple(signals.get(client_id, ())),
                mrr=mrr(terms, today),
                next_renewal_on=next_renewal_on(terms, today),
                last_touchpoint_at=row.last_touchpoint_at,
                open_tasks=tasks.get(client_id, 0),
            )
        return views

    async def _clients(self, workspace_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
        stmt = (
            sa.select(*view_columns())
            .select_from(Client)
            .outerjoin(
                HealthSnapshot,
                sa.and_(HealthSnapshot.client_id == Client.id, HealthSnapshot.latest.is_(True)),
            )
            .where(Client.workspace_id == workspace_id, Client.id.in_(ids))
        )
        return {row.id: row for row in (await self.session.execute(stmt)).all()}

    async def _history(
        self, workspace_id: uuid.UUID, ids: list[uuid.UUID], now: datetime
    ) -> dict[uuid.UUID, list[ScorePoint]]:
        """The snapshots from `now - MAX_CHANGE_DAYS` to `now - 1 day`, and the newest before
        that range: the score in force any whole number of days ago, within the range."""
        reach = now - timedelta(days=MAX_CHANGE_DAYS)
        columns = (
            HealthSnapshot.client_id,
            HealthSnapshot.computed_at,
            HealthSnapshot.id,
            HealthSnapshot.score,
        )
        scoped = (HealthSnapshot.workspace_id == workspace_id, HealthSnapshot.client_id.in_(ids))
        recent = sa.select(*columns).where(
            *scoped,
            HealthSnapshot.computed_at > reach,
            HealthSnapshot.computed_at <= now - timedelta(days=1),
        )
        rank = sa.func.row_number().over(
            partition_by=HealthSnapshot.client_id,
            order_by=(HealthSnapshot.computed_at.desc(), HealthSnapshot.id.desc()),
        )
        ranked = (
            sa.select(*columns, rank.label("rn"))
            .where(*scoped, HealthSnapshot.computed_at <= reach)
            .subquery("ranked")
        )
        older = sa.select(ranked.c.client_id, ranked.c.computed_at, ranked.c.id, ranked.c.score)
        stmt = sa.union_all(recent, older.where(ranked.c.rn == 1))
        history: dict[uuid.UUID, list[ScorePoint]] = defaultdict(list)
        for client_id, computed_at, snapshot_id, score in (await self.session.execute(stmt)).all():
            history[client_id].append(ScorePoint(computed_at, snapshot_id, score))
        return history

    async def _signals(
        self, workspace_id: uuid.UUID, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[OpenSignal]]:
        stmt = sa.select(Signal.client_id, Signal.kind, Signal.severity).where(
            Signal.workspace_id == workspace_id,
            Signal.client_id.in_(ids),
            Signal.resolved_at.is_(None),
        )
        signals: dict[uuid.UUID, list[OpenSignal]] = defaultdict(list)
        for client_id, kind, severity in (await self.session.execute(stmt)).all():
            signals[client_id].append(OpenSignal(kind, severity))
        return signals

    async def _contracts(
        self, workspace_id: uuid.UUID, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[ContractTerms]]:
        stmt = sa.select(
            Contract.client_id,
            Contract.starts_on,
            Contract.ends_on,
            Contract.amount,
            Contract.currency,
            Contract.status,
        ).where(Contract.workspace_id == workspace_id, Contract.client_id.in_(ids))
        terms: dict[uuid.UUID, list[ContractTerms]] = defaultdict(list)
        for row in (await self.session.execute(stmt)).all():
            terms[row.client_id].append(
                ContractTerms(
                    row.starts_on, row.ends_on, row.amount, row.currency, ContractStatus(row.status)
                )
            )
        return terms

    async def _open_tasks(
        self, workspace_id: uuid.UUID, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, int]:
        stmt = (
            sa.select(Task.client_id, sa.func.count())
            .where(
                Task.workspace_id == workspace_id,
                Task.client_id.in_(ids),
                Task.status.in_(OPEN_TASK_STATUSES),
            )
            .group_by(Task.client_id)
        )
        return {client_id: int(n) for client_id, n in (await self.session.execute(stmt)).all()}
