"""CRM links (a Tenure row and its CRM record, per integration) and CRM imports."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.functions import in_ids
from app.db.models import Client, CrmLink, CrmSync, HealthSnapshot, Integration, Task
from app.db.repositories.paging import Page, paginate, sort_keys
from app.domain.crm import LIVE_SYNC, LinkObject

SYNC_SORTS = sort_keys({"created_at": CrmSync.created_at})


@dataclass(frozen=True)
class PendingPush:
    """A client link waiting to be pushed, with the values a push sends now."""

    link_id: uuid.UUID
    client_id: uuid.UUID
    record_id: str
    pending_properties: dict[str, Any] | None
    score: float | None
    band: str | None
    last_touchpoint_at: datetime | None


@dataclass(frozen=True)
class OpenMirror:
    """A mirrored task the CRM has not reported completed, with the Tenure task's status
    (None: the task was deleted)."""

    link_id: uuid.UUID
    task_id: uuid.UUID
    record_id: str
    task_status: str | None


class CrmLinkRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _insert(self) -> Any:
        return pg_insert if self.session.get_bind().dialect.name == "postgresql" else sqlite_insert

    async def client_links(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID]
    ) -> list[CrmLink]:
        """The clients' links in every integration of the workspace."""
        if not client_ids:
            return []
        stmt = sa.select(CrmLink).where(
            CrmLink.workspace_id == workspace_id,
            CrmLink.object == LinkObject.CLIENT.value,
            in_ids(CrmLink.local_id, list(client_ids)),
        )
        return list((await self.session.scalars(stmt)).all())

    async def get(
        self, integration_id: uuid.UUID, obj: LinkObject, local_id: uuid.UUID
    ) -> CrmLink | None:
        stmt = sa.select(CrmLink).where(
            CrmLink.integration_id == integration_id,
            CrmLink.object == obj.value,
            CrmLink.local_id == local_id,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def records(
        self, integration_id: uuid.UUID, obj: LinkObject, local_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, str]:
        """local id → CRM record id."""
        if not local_ids:
            return {}
        stmt = sa.select(CrmLink.local_id, CrmLink.record_id).where(
            CrmLink.integration_id == integration_id,
            CrmLink.object == obj.value,
            in_ids(CrmLink.local_id, list(local_ids)),
        )
        return {row.local_id: row.record_id for row in (await self.session.execute(stmt)).all()}

    async def locals(
        self, integration_id: uuid.UUID, obj: LinkObject, record_ids: Sequence[str]
    ) -> dict[str, uuid.UUID]:
        """CRM record id → local id."""
        if not record_ids:
            return {}
        stmt = sa.select(CrmLink.record_id, CrmLink.local_id).where(
            CrmLink.integration_id == integration_id,
            CrmLink.object == obj.value,
            CrmLink.record_id.in_(list(record_ids)),
        )
        return {row.record_id: row.local_id for row in (await self.session.execute(stmt)).all()}

    async def link(
        self,
        workspace_id: uuid.UUID,
        integration_id: uuid.UUID,
        obj: LinkObject,
        local_id: uuid.UUID,
        record_id: str,
        now: datetime,
    ) -> None:
        """Links the row to the record, or repoints the row's link (a record merged in the CRM);
        a record already linked to another row keeps that link."""
        stmt = self._insert(CrmLink).values(
            id=uuid.uuid4(),
            workspace_id=workspace_id,
            integration_id=integration_id,
            object=obj.value,
            local_id=local_id,
            record_id=record_id,
            created_at=now,
            updated_at=now,
        )
        stmt = stmt.on_conflict_do_update(
            index_elements=["integration_id", "object", "local_id"],
            set_={"record_id": stmt.excluded.record_id, "updated_at": now},
        )
        try:
            async with self.session.begin_nested():
                await self.session.execute(stmt)
        except sa.exc.IntegrityError:
            pass  # the record is another row's: the first link wins

    async def mark_pending(self, link_ids: Sequence[uuid.UUID], now: datetime) -> None:
        """Waiting for the next push, since the first change that asked for one."""
        if not link_ids:
            return
        await self.session.execute(
            sa.update(CrmLink)
            .where(in_ids(CrmLink.id, list(link_ids)))
            .values(pending_since=sa.func.coalesce(CrmLink.pending_since, now), updated_at=now),
            execution_options={"synchronize_session": False},
        )

    async def add_pending_properties(
        self, link: CrmLink, properties: Mapping[str, Any], now: datetime
    ) -> None:
        """An action's static extras join what waits (later values win)."""
        link.pending_properties = {**(link.pending_properties or {}), **properties}
        link.pending_since = link.pending_since or now
        link.updated_at = now
        await self.session.flush()

    async def pending(self, integration_id: uuid.UUID, limit: int) -> list[PendingPush]:
        """The oldest waiting links with their client's current values; on PostgreSQL locked
        so that a concurrent push skips them."""
        stmt = (
            sa.select(
                CrmLink.id,
                CrmLink.local_id,
                CrmLink.record_id,
                CrmLink.pending_properties,
                HealthSnapshot.score,
                HealthSnapshot.band,
                Client.last_touchpoint_at,
            )
            .join(Client, Client.id == CrmLink.local_id)
            .outerjoin(
                HealthSnapshot,
                sa.and_(HealthSnapshot.client_id == Client.id, HealthSnapshot.latest.is_(True)),
            )
            .where(
                CrmLink.integration_id == integration_id,
                CrmLink.object == LinkObject.CLIENT.value,
                CrmLink.pending_since.is_not(None),
            )
            .order_by(CrmLink.pending_since, CrmLink.id)
            .limit(limit)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=CrmLink, skip_locked=True)
        return [PendingPush(*row) for row in (await self.session.execute(stmt)).all()]

    async def has_pending(self, integration_id: uuid.UUID) -> bool:
        stmt = sa.select(
            sa.exists().where(
                CrmLink.integration_id == integration_id,
                CrmLink.object == LinkObject.CLIENT.value,
                CrmLink.pending_since.is_not(None),
            )
        )
        return bool(await self.session.scalar(stmt))

    async def pushed(self, link_id: uuid.UUID, values: dict[str, Any], now: datetime) -> None:
        await self.session.execute(
            sa.update(CrmLink)
            .where(CrmLink.id == link_id)
            .values(
                pushed=values,
                pushed_at=now,
                pending_since=None,
                pending_properties=None,
                error=None,
                updated_at=now,
            )
        )

    async def refused(
        self, link_ids: Sequence[uuid.UUID], error: str, now: datetime, *, drop: bool
    ) -> None:
        """A push the CRM refused: the reason stays on the link; `drop` ends the wait (the same
        values would be refused again), otherwise the link waits for the next push."""
        if not link_ids:
            return
        values: dict[str, Any] = {"error": error[:1000], "updated_at": now}
        if drop:
            values |= {"pending_since": None, "pending_properties": None}
        await self.session.execute(
            sa.update(CrmLink).where(in_ids(CrmLink.id, list(link_ids))).values(**values)
        )

    async def stale_pending(self, before: datetime) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(workspace, integration) with a link waiting since before `before`: a push that
        failed for good, or whose request was lost, is asked for again."""
        stmt = (
            sa.select(CrmLink.workspace_id, CrmLink.integration_id)
            .where(
                CrmLink.object == LinkObject.CLIENT.value,
                CrmLink.pending_since < before,
            )
            .distinct()
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def open_mirrors(self, integration_id: uuid.UUID, limit: int) -> list[OpenMirror]:
        """Mirrored tasks not yet closed, least recently checked first."""
        stmt = (
            sa.select(CrmLink.id, CrmLink.local_id, CrmLink.record_id, Task.status)
            .outerjoin(Task, Task.id == CrmLink.local_id)
            .where(
                CrmLink.integration_id == integration_id,
                CrmLink.object == LinkObject.TASK.value,
                CrmLink.closed_at.is_(None),
            )
            .order_by(CrmLink.updated_at, CrmLink.id)
            .limit(limit)
        )
        return [OpenMirror(*row) for row in (await self.session.execute(stmt)).all()]

    async def integrations_with_open_mirrors(self) -> list[tuple[uuid.UUID, uuid.UUID]]:
        stmt = (
            sa.select(CrmLink.workspace_id, CrmLink.integration_id)
            .where(CrmLink.object == LinkObject.TASK.value, CrmLink.closed_at.is_(None))
            .distinct()
        )
        return [(row[0], row[1]) for row in (await self.session.execute(stmt)).all()]

    async def checked(self, link_ids: Sequence[uuid.UUID], now: datetime, *, closed: bool) -> None:
        if not link_ids:
            return
        values: dict[str, Any] = {"updated_at": now}
        if closed:
            values["closed_at"] = now
        await self.session.execute(
            sa.update(CrmLink).where(in_ids(CrmLink.id, list(link_ids))).values(**values)
        )


class CrmSyncRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, sync: CrmSync) -> CrmSync:
        self.session.add(sync)
        await self.session.flush()
        return sync

    async def get(self, workspace_id: uuid.UUID, sync_id: uuid.UUID) -> CrmSync | None:
        stmt = sa.select(CrmSync).where(CrmSync.workspace_id == workspace_id, CrmSync.id == sync_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def take_turn(self, sync: CrmSync) -> None:
        """Takes the sync's row (PostgreSQL) or the database's one write lock (SQLite) before a
        page's reads, and reloads it. On SQLite a transaction that read first and writes later
        fails at once with "database is locked" when another connection committed meanwhile
        (WAL cannot upgrade an old snapshot; busy_timeout does not apply), which a page's first
        savepoint and lookups left wide open while the previous page's clients were evaluated."""
        await self.session.execute(
            sa.update(CrmSync)
            .where(CrmSync.id == sync.id)
            .values(version=CrmSync.version)
            .execution_options(synchronize_session=False)
        )
        await self.session.refresh(sync)

    async def live(self, integration_id: uuid.UUID) -> CrmSync | None:
        stmt = sa.select(CrmSync).where(
            CrmSync.integration_id == integration_id,
            CrmSync.status.in_([status.value for status in LIVE_SYNC]),
        )
        return (await self.session.scalars(stmt.limit(1))).first()

    async def page(
        self,
        workspace_id: uuid.UUID,
        integration_id: uuid.UUID,
        *,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[CrmSync]:
        stmt = sa.select(CrmSync).where(
            CrmSync.workspace_id == workspace_id, CrmSync.integration_id == integration_id
        )
        return await paginate(
            self.session,
            stmt,
            id_column=CrmSync.id,
            sort=sort,
            key=SYNC_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )


async def load_integrations(
    session: AsyncSession, integration_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Integration]:
    """The integrations by id (their kind and options decide how a push goes)."""
    if not integration_ids:
        return {}
    stmt = sa.select(Integration).where(in_ids(Integration.id, list(integration_ids)))
    return {row.id: row for row in (await session.scalars(stmt)).all()}


async def workspace_integrations(
    session: AsyncSession, workspace_id: uuid.UUID
) -> list[Integration]:
    stmt = sa.select(Integration).where(Integration.workspace_id == workspace_id)
    return list((await session.scalars(stmt.order_by(Integration.created_at))).all())
