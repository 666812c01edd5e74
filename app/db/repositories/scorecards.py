import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Scorecard, ScorecardVersion
from app.db.repositories.paging import Page, paginate, sort_keys

SCORECARD_SORTS = sort_keys({"created_at": Scorecard.created_at, "name": Scorecard.name})


class ScorecardRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, scorecard: Scorecard, version: ScorecardVersion) -> Scorecard:
        self.session.add(scorecard)
        await self.session.flush()
        self.session.add(version)
        await self.session.flush()
        return scorecard

    async def add_version(self, version: ScorecardVersion) -> None:
        self.session.add(version)
        await self.session.flush()

    async def get(
        self, workspace_id: uuid.UUID, scorecard_id: uuid.UUID, *, for_update: bool = False
    ) -> Scorecard | None:
        stmt = sa.select(Scorecard).where(
            Scorecard.workspace_id == workspace_id,
            Scorecard.id == scorecard_id,
            Scorecard.archived_at.is_(None),
        )
        if for_update:
            stmt = stmt.with_for_update()
        return (await self.session.scalars(stmt)).one_or_none()

    async def active(self, workspace_id: uuid.UUID) -> list[tuple[Scorecard, ScorecardVersion]]:
        """Every live scorecard with its current version, oldest first."""
        stmt = (
            sa.select(Scorecard, ScorecardVersion)
            .join(
                ScorecardVersion,
                sa.and_(
                    ScorecardVersion.scorecard_id == Scorecard.id,
                    ScorecardVersion.version == Scorecard.current_version,
                ),
            )
            .where(Scorecard.workspace_id == workspace_id, Scorecard.archived_at.is_(None))
            .order_by(Scorecard.created_at, Scorecard.id)
        )
        return [(s, v) for s, v in (await self.session.execute(stmt)).all()]

    async def version(
        self, workspace_id: uuid.UUID, scorecard_id: uuid.UUID, version: int
    ) -> ScorecardVersion | None:
        stmt = sa.select(ScorecardVersion).where(
            ScorecardVersion.workspace_id == workspace_id,
            ScorecardVersion.scorecard_id == scorecard_id,
            ScorecardVersion.version == version,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def current_versions(
        self, workspace_id: uuid.UUID, scorecards: list[Scorecard]
    ) -> dict[uuid.UUID, ScorecardVersion]:
        if not scorecards:
            return {}
        current = {s.id: s.current_version for s in scorecards}
        stmt = sa.select(ScorecardVersion).where(
            ScorecardVersion.workspace_id == workspace_id,
            ScorecardVersion.scorecard_id.in_(current),
        )
        return {
            v.scorecard_id: v
            for v in (await self.session.scalars(stmt)).all()
            if v.version == current[v.scorecard_id]
        }

    async def version_at(
        self, workspace_id: uuid.UUID, scorecard_id: uuid.UUID, at: datetime
    ) -> ScorecardVersion | None:
        """The version in force at `at`: the newest created by then."""
        stmt = (
            sa.select(ScorecardVersion)
            .where(
                ScorecardVersion.workspace_id == workspace_id,
                ScorecardVersion.scorecard_id == scorecard_id,
                ScorecardVersion.created_at <= at,
            )
            .order_by(ScorecardVersion.version.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def versions(
        self, workspace_id: uuid.UUID, scorecard_id: uuid.UUID
    ) -> list[ScorecardVersion]:
        stmt = (
            sa.select(ScorecardVersion)
            .where(
                ScorecardVersion.workspace_id == workspace_id,
                ScorecardVersion.scorecard_id == scorecard_id,
            )
            .order_by(ScorecardVersion.version.desc())
        )
        return list((await self.session.scalars(stmt)).all())

    async def page(
        self, workspace_id: uuid.UUID, *, sort: str, cursor: str | None, limit: int
    ) -> Page[Scorecard]:
        stmt = sa.select(Scorecard).where(
            Scorecard.workspace_id == workspace_id, Scorecard.archived_at.is_(None)
        )
        return await paginate(
            self.session,
            stmt,
            id_column=Scorecard.id,
            sort=sort,
            key=SCORECARD_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )
