"""Triggers and their runs: definitions with versions, the live triggers a fact wakes, the
schedules that fell due, and the run history the control policy reads in bulk."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models import (
    Client,
    HealthSnapshot,
    Trigger,
    TriggerRun,
    TriggerSettingsRecord,
    TriggerVersion,
)
from app.db.repositories.client_views import view_columns
from app.db.repositories.conditions import condition_statement
from app.db.repositories.paging import Page, paginate, sort_keys
from app.domain.conditions import Condition
from app.domain.triggers import FIRINGS, Outcome, RunHistory

TRIGGER_SORTS = sort_keys({"created_at": Trigger.created_at, "name": Trigger.name})
RUN_SORTS = sort_keys({"created_at": TriggerRun.created_at})
CHUNK = 500
"""Clients per statement: far below the bind-parameter limits of SQLite and asyncpg."""
_RUNS = TriggerRun.metadata.tables[TriggerRun.__tablename__]
_FIRED = [o.value for o in FIRINGS]


@dataclass(frozen=True)
class ClientSummary:
    id: uuid.UUID
    name: str
    external_id: str | None
    tier: str | None
    lifecycle_stage: str
    status: str
    owner_id: uuid.UUID | None


@dataclass(frozen=True)
class SweptClient:
    """A client a schedule's sweep matched: its firings in the cap's window and, if asked,
    its view's row (`app.db.repositories.client_views.view_columns`)."""

    id: uuid.UUID
    fired: int
    row: Any = None


@dataclass(frozen=True)
class RunFilters:
    trigger_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    outcomes: tuple[str, ...] = ()


class TriggerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # Definitions ---------------------------------------------------------------------------

    async def add(self, trigger: Trigger, version: TriggerVersion) -> None:
        self.session.add(trigger)
        await self.session.flush()
        self.session.add(version)
        await self.session.flush()

    async def add_version(self, version: TriggerVersion) -> None:
        self.session.add(version)
        await self.session.flush()

    async def get(
        self, workspace_id: uuid.UUID, trigger_id: uuid.UUID, *, for_update: bool = False
    ) -> Trigger | None:
        stmt = sa.select(Trigger).where(
            Trigger.workspace_id == workspace_id,
            Trigger.id == trigger_id,
            Trigger.archived_at.is_(None),
        )
        if for_update:
            stmt = stmt.with_for_update()
        trigger = (await self.session.scalars(stmt)).one_or_none()
        if for_update and trigger is not None:
            await self._serialize([trigger.id])
        return trigger

    async def version(
        self, workspace_id: uuid.UUID, trigger_id: uuid.UUID, version: int
    ) -> TriggerVersion | None:
        stmt = sa.select(TriggerVersion).where(
            TriggerVersion.workspace_id == workspace_id,
            TriggerVersion.trigger_id == trigger_id,
            TriggerVersion.version == version,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def versions(
        self, workspace_id: uuid.UUID, trigger_id: uuid.UUID
    ) -> list[TriggerVersion]:
        stmt = (
            sa.select(TriggerVersion)
            .where(
                TriggerVersion.workspace_id == workspace_id,
                TriggerVersion.trigger_id == trigger_id,
            )
            .order_by(TriggerVersion.version.desc())
        )
        return list((await self.session.scalars(stmt)).all())

    async def current_versions(
        self, workspace_id: uuid.UUID, triggers: Sequence[Trigger]
    ) -> dict[uuid.UUID, TriggerVersion]:
        if not triggers:
            return {}
        stmt = sa.select(TriggerVersion).where(
            TriggerVersion.workspace_id == workspace_id,
            sa.tuple_(TriggerVersion.trigger_id, TriggerVersion.version).in_(
                [(t.id, t.current_version) for t in triggers]
            ),
        )
        return {v.trigger_id: v for v in (await self.session.scalars(stmt)).all()}

    async def page(
        self,
        workspace_id: uuid.UUID,
        *,
        when_kind: str | None,
        enabled: bool | None,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[Trigger]:
        stmt = sa.select(Trigger).where(
            Trigger.workspace_id == workspace_id, Trigger.archived_at.is_(None)
        )
        if when_kind is not None:
            stmt = stmt.where(Trigger.when_kind == when_kind)
        if enabled is not None:
            stmt = stmt.where(Trigger.enabled.is_(enabled))
        return await paginate(
            self.session,
            stmt,
            id_column=Trigger.id,
            sort=sort,
            key=TRIGGER_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def live(
        self, workspace_id: uuid.UUID, when_kinds: Sequence[str]
    ) -> list[tuple[Trigger, TriggerVersion]]:
        """The enabled triggers waiting for these kinds, with their current versions. Locked in
        id order on PostgreSQL until the evaluation commits, so two evaluations of one trigger
        (two facts about one client) take turns and each sees the other's runs."""
        stmt = (
            sa.select(Trigger, TriggerVersion)
            .join(
                TriggerVersion,
                sa.and_(
                    TriggerVersion.trigger_id == Trigger.id,
                    TriggerVersion.version == Trigger.current_version,
                ),
            )
            .where(
                Trigger.workspace_id == workspace_id,
                Trigger.when_kind.in_(list(when_kinds)),
                Trigger.enabled.is_(True),
                Trigger.archived_at.is_(None),
            )
            .order_by(Trigger.id)
        )
        if self._postgres:
            stmt = stmt.with_for_update(of=Trigger)
        pairs = [(t, v) for t, v in (await self.session.execute(stmt)).all()]
        await self._serialize([t.id for t, _ in pairs])
        return pairs

    async def _serialize(self, trigger_ids: list[uuid.UUID]) -> None:
        """SQLite has no row locks: a write takes its one write lock now, so an evaluation
        reads the run history only once the one before it committed, as on PostgreSQL."""
        if trigger_ids and not self._postgres:
            await self.session.execute(
                sa.update(Trigger)
                .where(Trigger.id.in_(trigger_ids))
                .values(revision=Trigger.revision, updated_at=Trigger.updated_at)
                .execution_options(synchronize_session=False)
            )

    async def due_schedules(self, now: datetime, limit: int) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(workspace, trigger) of enabled schedule triggers whose next moment has come, in
        every workspace; locked so that two ticks never both take one."""
        stmt = (
            sa.select(Trigger.workspace_id, Trigger.id)
            .where(
                Trigger.when_kind == "schedule",
                Trigger.next_due_at <= now,
                Trigger.enabled.is_(True),
                Trigger.archived_at.is_(None),
            )
            .order_by(Trigger.next_due_at, Trigger.id)
            .limit(limit)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def set_next_due(self, trigger_id: uuid.UUID, next_due_at: datetime | None) -> None:
        await self.session.execute(
            sa.update(Trigger)
            .where(Trigger.id == trigger_id)
            .values(next_due_at=next_due_at, updated_at=Trigger.updated_at)  # not an edit
        )

    # Runs ----------------------------------------------------------------------------------

    async def histories(
        self, trigger_id: uuid.UUID, client_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, RunHistory]:
        """Per client, the trigger's last decision and last firing: one grouped read per
        chunk, along `ix_trigger_runs_trigger_id_client_id_created_at`."""
        found: dict[uuid.UUID, RunHistory] = {}
        ids = sorted(set(client_ids))
        last_fired = sa.func.max(
            sa.case((_RUNS.c.outcome.in_(_FIRED), _RUNS.c.created_at), else_=None)
        )
        for start in range(0, len(ids), CHUNK):
            stmt = (
                sa.select(_RUNS.c.client_id, sa.func.max(_RUNS.c.created_at), last_fired)
                .where(
                    _RUNS.c.trigger_id == trigger_id,
                    _RUNS.c.client_id.in_(ids[start : start + CHUNK]),
                )
                .group_by(_RUNS.c.client_id)
            )
            for client_id, decided, fired in (await self.session.execute(stmt)).all():
                found[client_id] = RunHistory(last_decided_at=decided, last_fired_at=fired)
        return found

    async def sweep_page(
        self,
        workspace_id: uuid.UUID,
        trigger_id: uuid.UUID,
        condition: Condition,
        now: datetime,
        since: datetime,
        *,
        held_back_after: datetime | None,
        after: uuid.UUID | None,
        limit: int,
        with_views: bool,
    ) -> list[SweptClient]:
        """One page (in id order, after `after`) of the clients the condition holds for and
        no firing of this trigger after `held_back_after` holds back, each with its firings
        by any trigger since `since` (the cap's count) and, `with_views`, its view's row (the
        values the runs record come from it, not from a second read): one statement, the
        condition's own SELECT with an anti-join and a correlated count along the runs'
        indexes. The next tick of a schedule that fired for everyone returns nothing."""
        dialect = self.session.get_bind().dialect.name
        matching = condition_statement(workspace_id, condition, now, dialect, after=after)
        page = matching.subquery("matching")
        # By client alone (a client is of one workspace): with stale statistics after a big
        # first sweep, a workspace filter drew PostgreSQL to the workspace's time index, a
        # scan of every recent run per client (13 s for a page instead of 0.1 s).
        recent = (
            sa.select(sa.func.count())
            .where(
                _RUNS.c.client_id == page.c.id,
                _RUNS.c.created_at >= since,
                _RUNS.c.outcome == Outcome.FIRED.value,
            )
            .scalar_subquery()
        )
        stmt = sa.select(page.c.id, recent.label("fired")).order_by(page.c.id).limit(limit)
        if held_back_after is not None:
            stmt = stmt.where(
                ~sa.exists().where(
                    _RUNS.c.trigger_id == trigger_id,
                    _RUNS.c.client_id == page.c.id,
                    _RUNS.c.created_at > held_back_after,
                    _RUNS.c.outcome.in_(_FIRED),
                )
            )
        if with_views:  # joined to the page once it is cut: by primary key, to its rows alone
            cut = stmt.subquery("page")
            latest = aliased(HealthSnapshot, name="view_latest")
            on_latest = sa.and_(latest.client_id == cut.c.id, latest.latest.is_(True))
            stmt = (
                sa.select(cut.c.id, cut.c.fired, *view_columns(latest))
                .select_from(cut.join(Client, Client.id == cut.c.id).outerjoin(latest, on_latest))
                .order_by(cut.c.id)
            )
        rows = (await self.session.execute(stmt)).all()
        return [SweptClient(row[0], int(row[1]), row if with_views else None) for row in rows]

    async def fired_since(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID], since: datetime
    ) -> dict[uuid.UUID, int]:
        """Firings per client since `since`, by every trigger: the frequency cap's count. The
        ids must be clients of `workspace_id` (the caller loaded them scoped by it)."""
        found: dict[uuid.UUID, int] = {}
        ids = sorted(set(client_ids))
        for start in range(0, len(ids), CHUNK):
            stmt = (
                sa.select(_RUNS.c.client_id, sa.func.count())
                .where(  # the clients are the workspace's: no workspace filter (see above)
                    _RUNS.c.client_id.in_(ids[start : start + CHUNK]),
                    _RUNS.c.created_at >= since,
                    _RUNS.c.outcome == Outcome.FIRED.value,
                )
                .group_by(_RUNS.c.client_id)
            )
            found.update({row[0]: int(row[1]) for row in (await self.session.execute(stmt)).all()})
        return found

    async def insert_runs(self, rows: Sequence[dict[str, Any]]) -> None:
        """Plain rows (every column of `trigger_runs`), one executemany."""
        if rows:
            await self.session.execute(sa.insert(_RUNS), list(rows))

    async def get_run(self, workspace_id: uuid.UUID, run_id: uuid.UUID) -> TriggerRun | None:
        stmt = sa.select(TriggerRun).where(
            TriggerRun.workspace_id == workspace_id, TriggerRun.id == run_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def runs(
        self, workspace_id: uuid.UUID, filters: RunFilters, *, cursor: str | None, limit: int
    ) -> Page[TriggerRun]:
        stmt = sa.select(TriggerRun).where(TriggerRun.workspace_id == workspace_id)
        if filters.trigger_id is not None:
            stmt = stmt.where(TriggerRun.trigger_id == filters.trigger_id)
        if filters.client_id is not None:
            stmt = stmt.where(TriggerRun.client_id == filters.client_id)
        if filters.outcomes:
            stmt = stmt.where(TriggerRun.outcome.in_(filters.outcomes))
        return await paginate(
            self.session,
            stmt,
            id_column=TriggerRun.id,
            sort="-created_at",
            key=RUN_SORTS["-created_at"],
            cursor=cursor,
            limit=limit,
        )

    async def client_summaries(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID]
    ) -> list[ClientSummary]:
        """A preview page's clients in the order given."""
        if not client_ids:
            return []
        stmt = sa.select(
            Client.id,
            Client.name,
            Client.external_id,
            Client.tier,
            Client.lifecycle_stage,
            Client.status,
            Client.owner_id,
        ).where(Client.workspace_id == workspace_id, Client.id.in_(list(client_ids)))
        found = {row.id: ClientSummary(*row) for row in (await self.session.execute(stmt)).all()}
        return [found[i] for i in client_ids if i in found]

    # Settings ------------------------------------------------------------------------------

    async def settings(self, workspace_id: uuid.UUID) -> TriggerSettingsRecord | None:
        return await self.session.get(TriggerSettingsRecord, workspace_id)

    async def add_settings(self, record: TriggerSettingsRecord) -> None:
        self.session.add(record)
        await self.session.flush()
