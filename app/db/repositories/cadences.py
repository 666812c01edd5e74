"""Cadences and enrolments: definitions, one client's enrolments, the paged lists."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Cadence, CadenceEnrollment
from app.db.models.cadence import ACTIVE
from app.db.repositories.paging import Page, paginate, sort_keys
from app.domain.cadences import EnrollmentStatus

CADENCE_SORTS = sort_keys({"created_at": Cadence.created_at, "name": Cadence.name})
ENROLLMENT_SORTS = sort_keys({"enrolled_at": CadenceEnrollment.enrolled_at})
_ENROLLMENTS = CadenceEnrollment.metadata.tables[CadenceEnrollment.__tablename__]
_ACTIVE = _ENROLLMENTS.c.status == EnrollmentStatus.ACTIVE.value


class CadenceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, cadence: Cadence) -> Cadence:
        self.session.add(cadence)
        await self.session.flush()
        return cadence

    async def get(
        self, workspace_id: uuid.UUID, cadence_id: uuid.UUID, *, for_update: bool = False
    ) -> Cadence | None:
        stmt = sa.select(Cadence).where(
            Cadence.workspace_id == workspace_id, Cadence.id == cadence_id
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    async def by_ids(self, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[Cadence]:
        if not ids:
            return []
        stmt = sa.select(Cadence).where(
            Cadence.workspace_id == workspace_id, Cadence.id.in_(set(ids))
        )
        return list((await self.session.scalars(stmt)).all())

    async def enabled(self, workspace_ids: Sequence[uuid.UUID] | None) -> list[Cadence]:
        """The live cadences of some workspaces (None: every workspace), oldest first."""
        stmt = sa.select(Cadence).where(Cadence.enabled.is_(True))
        if workspace_ids is not None:
            stmt = stmt.where(Cadence.workspace_id.in_(set(workspace_ids)))
        stmt = stmt.order_by(Cadence.workspace_id, Cadence.created_at, Cadence.id)
        return list((await self.session.scalars(stmt)).all())

    async def page(
        self,
        workspace_id: uuid.UUID,
        *,
        kind: str | None,
        tier: str | None,
        enabled: bool | None,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[Cadence]:
        stmt = sa.select(Cadence).where(Cadence.workspace_id == workspace_id)
        if kind is not None:
            stmt = stmt.where(Cadence.kind == kind)
        if tier is not None:
            stmt = stmt.where(Cadence.tier == tier)
        if enabled is not None:
            stmt = stmt.where(Cadence.enabled.is_(enabled))
        return await paginate(
            self.session,
            stmt,
            id_column=Cadence.id,
            sort=sort,
            key=CADENCE_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def delete(self, cadence: Cadence) -> None:
        await self.session.delete(cadence)
        await self.session.flush()


class EnrollmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    def _insert(self, table: Any) -> postgresql.Insert | sqlite.Insert:
        """INSERT … ON CONFLICT DO NOTHING against the one-active-enrolment index: a row that
        races an active enrolment of the same cadence and client is skipped."""
        insert = postgresql.insert if self._postgres else sqlite.insert
        return insert(table).on_conflict_do_nothing(
            index_elements=["client_id", "cadence_id"], index_where=ACTIVE
        )

    async def insert(self, rows: Sequence[dict[str, Any]]) -> set[uuid.UUID]:
        """New active enrolments (every column); returns the ids stored."""
        if not rows:
            return set()
        stmt = self._insert(_ENROLLMENTS).returning(_ENROLLMENTS.c.id)
        return set((await self.session.execute(stmt, list(rows))).scalars().all())

    async def insert_one(self, row: dict[str, Any]) -> CadenceEnrollment | None:
        """One new active enrolment, loaded by the statement that stores it; None when it
        raced an active one."""
        stmt = self._insert(CadenceEnrollment).values(**row).returning(CadenceEnrollment)
        return (await self.session.scalars(stmt)).one_or_none()

    async def get(
        self, workspace_id: uuid.UUID, cadence_id: uuid.UUID, enrollment_id: uuid.UUID
    ) -> CadenceEnrollment | None:
        stmt = sa.select(CadenceEnrollment).where(
            CadenceEnrollment.workspace_id == workspace_id,
            CadenceEnrollment.cadence_id == cadence_id,
            CadenceEnrollment.id == enrollment_id,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def active(
        self, workspace_id: uuid.UUID, cadence_id: uuid.UUID, client_id: uuid.UUID
    ) -> CadenceEnrollment | None:
        stmt = sa.select(CadenceEnrollment).where(
            CadenceEnrollment.workspace_id == workspace_id,
            CadenceEnrollment.cadence_id == cadence_id,
            CadenceEnrollment.client_id == client_id,
            CadenceEnrollment.status == EnrollmentStatus.ACTIVE.value,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def of_client(
        self, workspace_id: uuid.UUID, client_id: uuid.UUID
    ) -> list[tuple[CadenceEnrollment, Cadence]]:
        """A client's active enrolments with their cadences, oldest first."""
        stmt = (
            sa.select(CadenceEnrollment, Cadence)
            .join(Cadence, Cadence.id == CadenceEnrollment.cadence_id)
            .where(
                CadenceEnrollment.workspace_id == workspace_id,
                CadenceEnrollment.client_id == client_id,
                CadenceEnrollment.status == EnrollmentStatus.ACTIVE.value,
            )
            .order_by(CadenceEnrollment.enrolled_at, CadenceEnrollment.id)
        )
        return [(e, c) for e, c in (await self.session.execute(stmt)).all()]

    async def page(
        self,
        workspace_id: uuid.UUID,
        cadence_id: uuid.UUID,
        *,
        status: str | None,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[CadenceEnrollment]:
        stmt = sa.select(CadenceEnrollment).where(
            CadenceEnrollment.workspace_id == workspace_id,
            CadenceEnrollment.cadence_id == cadence_id,
        )
        if status is not None:
            stmt = stmt.where(CadenceEnrollment.status == status)
        return await paginate(
            self.session,
            stmt,
            id_column=CadenceEnrollment.id,
            sort=sort,
            key=ENROLLMENT_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def end(
        self,
        ids: Sequence[uuid.UUID],
        reason: str,
        now: datetime,
    ) -> set[uuid.UUID]:
        """Ends the active ones among `ids`; returns those it ended."""
        if not ids:
            return set()
        ended: set[uuid.UUID] = set()
        ordered = sorted(ids)
        for start in range(0, len(ordered), CHUNK):
            stmt = (
                sa.update(_ENROLLMENTS)
                .where(_ENROLLMENTS.c.id.in_(ordered[start : start + CHUNK]), _ACTIVE)
                .values(**ended_values(reason, now))
                .returning(_ENROLLMENTS.c.id)
            )
            ended |= set((await self.session.execute(stmt)).scalars().all())
        return ended

    async def end_all(
        self, workspace_id: uuid.UUID, cadence_id: uuid.UUID, reason: str, now: datetime
    ) -> int:
        """Ends every active enrolment of a cadence (it was disabled)."""
        result = await self.session.execute(
            sa.update(_ENROLLMENTS)
            .where(
                _ENROLLMENTS.c.workspace_id == workspace_id,
                _ENROLLMENTS.c.cadence_id == cadence_id,
                _ACTIVE,
            )
            .values(**ended_values(reason, now))
        )
        return int(getattr(result, "rowcount", 0) or 0)


CHUNK = 500


def ended_values(reason: str, now: datetime) -> dict[str, Any]:
    return {
        "status": EnrollmentStatus.ENDED.value,
        "ended_at": now,
        "exit_reason": reason,
        "next_due_at": None,
        "paused_at": None,
        "updated_at": now,
    }
