"""Overrides: a person's band or score over the computed one, until it expires."""

import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import HealthOverride
from app.db.repositories.paging import Page, SortKey, paginate

OVERRIDE_SORT = SortKey(HealthOverride.created_at, descending=True)


class HealthOverrideRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, override: HealthOverride) -> HealthOverride:
        self.session.add(override)
        await self.session.flush()
        return override

    async def active(
        self, workspace_id: uuid.UUID, client_id: uuid.UUID, at: datetime
    ) -> HealthOverride | None:
        """The newest override still in force at `at`."""
        stmt = (
            sa.select(HealthOverride)
            .where(
                HealthOverride.workspace_id == workspace_id,
                HealthOverride.client_id == client_id,
                HealthOverride.created_at <= at,
                HealthOverride.expires_at > at,
            )
            .order_by(HealthOverride.created_at.desc(), HealthOverride.id.desc())
            .limit(1)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def page(
        self, workspace_id: uuid.UUID, client_id: uuid.UUID, *, cursor: str | None, limit: int
    ) -> Page[HealthOverride]:
        stmt = sa.select(HealthOverride).where(
            HealthOverride.workspace_id == workspace_id, HealthOverride.client_id == client_id
        )
        return await paginate(
            self.session,
            stmt,
            id_column=HealthOverride.id,
            sort="-created_at",
            key=OVERRIDE_SORT,
            cursor=cursor,
            limit=limit,
        )
