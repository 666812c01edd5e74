"""Signals: evaluation's plain-row reads and writes, the API's pages, and the settings."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, Signal, SignalSettingsRecord
from app.db.repositories.paging import Page, paginate, sort_keys
from app.domain.signals import SignalStatus

SIGNAL_SORTS = sort_keys({"opened_at": Signal.opened_at})
CHUNK = 500
"""Clients per statement: far below the bind-parameter limits of SQLite and asyncpg."""


@dataclass(frozen=True)
class SignalFilters:
    kinds: tuple[str, ...] = ()
    statuses: tuple[str, ...] = ()
    severities: tuple[str, ...] = ()
    client_id: uuid.UUID | None = None
    owner_id: uuid.UUID | None = None
    tier: str | None = None
    opened_from: datetime | None = None
    opened_to: datetime | None = None


@dataclass(frozen=True)
class NewSignal:
    client_id: uuid.UUID
    kind: str
    severity: str
    figures: dict[str, Any]
    id: uuid.UUID = field(default_factory=uuid.uuid4)


@dataclass(frozen=True)
class StoredSignal:
    id: uuid.UUID
    client_id: uuid.UUID
    kind: str
    severity: str
    status: str
    figures: dict[str, Any]
    opened_at: datetime
    evaluated_at: datetime


_SIGNALS = Signal.metadata.tables[Signal.__tablename__]
_REFRESH = (
    sa.update(_SIGNALS)
    .where(_SIGNALS.c.id == sa.bindparam("signal_id", type_=_SIGNALS.c.id.type))
    .values(
        severity=sa.bindparam("new_severity", type_=_SIGNALS.c.severity.type),
        figures=sa.bindparam("new_figures", type_=_SIGNALS.c.figures.type),
        evaluated_at=sa.bindparam("now", type_=_SIGNALS.c.evaluated_at.type),
    )
)
"""On the Core table, so a list of parameters runs as executemany."""


class SignalRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # Signals -----------------------------------------------------------------------------
    # Evaluation reads and writes plain rows with Core statements: a daily rescore touches
    # every unresolved signal of the portfolio, too many for ORM objects.

    async def unresolved(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[StoredSignal]]:
        found: dict[uuid.UUID, list[StoredSignal]] = defaultdict(list)
        ids = sorted(set(client_ids))
        for start in range(0, len(ids), CHUNK):
            stmt = sa.select(
                Signal.id,
                Signal.client_id,
                Signal.kind,
                Signal.severity,
                Signal.status,
                Signal.figures,
                Signal.opened_at,
                Signal.evaluated_at,
            ).where(
                Signal.workspace_id == workspace_id,
                Signal.client_id.in_(ids[start : start + CHUNK]),
                Signal.resolved_at.is_(None),
            )
            for row in (await self.session.execute(stmt)).all():
                found[row.client_id].append(StoredSignal(*row))
        return found

    async def open(
        self, workspace_id: uuid.UUID, signals: Sequence[NewSignal], now: datetime
    ) -> set[uuid.UUID]:
        """Inserts the signals; one that races an unresolved signal of the same client and kind
        (a concurrent evaluation) is skipped. Returns the ids that were inserted."""
        if not signals:
            return set()
        rows = [
            {
                "id": s.id,
                "workspace_id": workspace_id,
                "client_id": s.client_id,
                "kind": s.kind,
                "severity": s.severity,
                "status": SignalStatus.OPEN.value,
                "figures": s.figures,
                "opened_at": now,
                "evaluated_at": now,
            }
            for s in signals
        ]
        insert = postgresql.insert if self._postgres else sqlite.insert
        stmt = insert(_SIGNALS).on_conflict_do_nothing(
            index_elements=["client_id", "kind"], index_where=_SIGNALS.c.resolved_at.is_(None)
        )
        result = await self.session.execute(stmt.returning(_SIGNALS.c.id), rows)
        return set(result.scalars().all())

    async def refresh(
        self, changes: Sequence[tuple[uuid.UUID, str, dict[str, Any]]], now: datetime
    ) -> None:
        """New severity and figures of signals that stay unresolved: (id, severity, figures)."""
        if not changes:
            return
        await self.session.execute(
            _REFRESH,
            [
                {"signal_id": i, "new_severity": severity, "new_figures": figures, "now": now}
                for i, severity, figures in changes
            ],
        )

    async def resolve(self, ids: Sequence[uuid.UUID], now: datetime) -> set[uuid.UUID]:
        """Returns the ids resolved here; one a concurrent evaluation resolved first is not."""
        resolved: set[uuid.UUID] = set()
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            stmt = (
                sa.update(_SIGNALS)
                .where(
                    _SIGNALS.c.id.in_(ordered[start : start + CHUNK]),
                    _SIGNALS.c.resolved_at.is_(None),
                )
                .values(status=SignalStatus.RESOLVED.value, resolved_at=now, evaluated_at=now)
                .returning(_SIGNALS.c.id)
            )
            resolved |= set((await self.session.execute(stmt)).scalars().all())
        return resolved

    async def acknowledge(
        self, signal: Signal, owner_id: uuid.UUID, note: str | None, now: datetime
    ) -> bool:
        """Only an open signal: False when a concurrent evaluation or acknowledgement got there
        first, so a resolved signal is never marked acknowledged."""
        result = await self.session.execute(
            sa.update(Signal)
            .where(
                Signal.id == signal.id,
                Signal.status == SignalStatus.OPEN.value,
                Signal.resolved_at.is_(None),
            )
            .values(
                status=SignalStatus.ACKNOWLEDGED.value,
                acknowledged_at=now,
                acknowledged_by=owner_id,
                acknowledged_note=note,
            )
            .execution_options(synchronize_session=False)
        )
        await self.session.refresh(signal)
        return bool(getattr(result, "rowcount", 0))

    async def get(self, workspace_id: uuid.UUID, signal_id: uuid.UUID) -> Signal | None:
        stmt = sa.select(Signal).where(Signal.workspace_id == workspace_id, Signal.id == signal_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def page(
        self, workspace_id: uuid.UUID, filters: SignalFilters, *, cursor: str | None, limit: int
    ) -> Page[Signal]:
        stmt = sa.select(Signal).where(Signal.workspace_id == workspace_id)
        if filters.kinds:
            stmt = stmt.where(Signal.kind.in_(filters.kinds))
        if filters.statuses:
            stmt = stmt.where(Signal.status.in_(filters.statuses))
        if filters.severities:
            stmt = stmt.where(Signal.severity.in_(filters.severities))
        if filters.client_id is not None:
            stmt = stmt.where(Signal.client_id == filters.client_id)
        if filters.owner_id is not None or filters.tier is not None:
            stmt = stmt.join(Client, Client.id == Signal.client_id)
            if filters.owner_id is not None:
                stmt = stmt.where(Client.owner_id == filters.owner_id)
            if filters.tier is not None:
                stmt = stmt.where(Client.tier == filters.tier)
        if filters.opened_from is not None:
            stmt = stmt.where(Signal.opened_at >= filters.opened_from)
        if filters.opened_to is not None:
            stmt = stmt.where(Signal.opened_at < filters.opened_to)
        return await paginate(
            self.session,
            stmt,
            id_column=Signal.id,
            sort="-opened_at",
            key=SIGNAL_SORTS["-opened_at"],
            cursor=cursor,
            limit=limit,
        )

    # Settings ----------------------------------------------------------------------------

    async def settings(self, workspace_id: uuid.UUID) -> SignalSettingsRecord | None:
        return await self.session.get(SignalSettingsRecord, workspace_id)

    async def add_settings(self, record: SignalSettingsRecord) -> None:
        self.session.add(record)
        await self.session.flush()
