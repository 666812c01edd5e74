import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ApiKey, Workspace
from app.db.repositories.paging import Page, paginate, sort_keys

API_KEY_SORTS = sort_keys({"created_at": ApiKey.created_at, "name": ApiKey.name})


class WorkspaceRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, workspace: Workspace) -> Workspace:
        self.session.add(workspace)
        await self.session.flush()
        return workspace

    async def get(self, workspace_id: uuid.UUID) -> Workspace | None:
        return await self.session.get(Workspace, workspace_id)


class ApiKeyRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, api_key: ApiKey) -> ApiKey:
        self.session.add(api_key)
        await self.session.flush()
        return api_key

    async def find_active_by_hash(self, key_hash: str) -> ApiKey | None:
        stmt = sa.select(ApiKey).where(ApiKey.key_hash == key_hash, ApiKey.revoked_at.is_(None))
        return (await self.session.scalars(stmt)).one_or_none()

    async def get(self, workspace_id: uuid.UUID, key_id: uuid.UUID) -> ApiKey | None:
        stmt = sa.select(ApiKey).where(ApiKey.workspace_id == workspace_id, ApiKey.id == key_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def page(
        self, workspace_id: uuid.UUID, *, sort: str, cursor: str | None, limit: int
    ) -> Page[ApiKey]:
        return await paginate(
            self.session,
            sa.select(ApiKey).where(ApiKey.workspace_id == workspace_id),
            id_column=ApiKey.id,
            sort=sort,
            key=API_KEY_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def touch(self, key_id: uuid.UUID, at: datetime) -> None:
        await self.session.execute(
            sa.update(ApiKey).where(ApiKey.id == key_id).values(last_used_at=at)
        )
