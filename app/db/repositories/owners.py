import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, Owner
from app.db.repositories.paging import Page, paginate, sort_keys

OWNER_SORTS = sort_keys(
    {"name": Owner.name, "created_at": Owner.created_at, "updated_at": Owner.updated_at}
)


class OwnerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, owner: Owner) -> Owner:
        self.session.add(owner)
        await self.session.flush()
        return owner

    async def get(self, workspace_id: uuid.UUID, owner_id: uuid.UUID) -> Owner | None:
        stmt = sa.select(Owner).where(Owner.workspace_id == workspace_id, Owner.id == owner_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_by_email(self, workspace_id: uuid.UUID, email: str) -> Owner | None:
        stmt = sa.select(Owner).where(Owner.workspace_id == workspace_id, Owner.email == email)
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_by_external_id(self, workspace_id: uuid.UUID, external_id: str) -> Owner | None:
        stmt = sa.select(Owner).where(
            Owner.workspace_id == workspace_id, Owner.external_id == external_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def owns_clients(self, workspace_id: uuid.UUID, owner_id: uuid.UUID) -> bool:
        stmt = sa.select(
            sa.exists().where(Client.workspace_id == workspace_id, Client.owner_id == owner_id)
        )
        return bool(await self.session.scalar(stmt))

    async def page(
        self,
        workspace_id: uuid.UUID,
        *,
        active: bool | None,
        q: str | None,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[Owner]:
        stmt = sa.select(Owner).where(Owner.workspace_id == workspace_id)
        if active is not None:
            stmt = stmt.where(Owner.active == active)
        if q:
            stmt = stmt.where(
                sa.or_(
                    Owner.name.icontains(q, autoescape=True),
                    Owner.email.icontains(q, autoescape=True),
                )
            )
        return await paginate(
            self.session,
            stmt,
            id_column=Owner.id,
            sort=sort,
            key=OWNER_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def delete(self, owner: Owner) -> None:
        await self.session.delete(owner)
        await self.session.flush()
