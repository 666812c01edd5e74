import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.base import utcnow
from app.db.models import Contact
from app.db.repositories.paging import Page, paginate, sort_keys

CONTACT_SORTS = sort_keys(
    {"name": Contact.name, "created_at": Contact.created_at, "updated_at": Contact.updated_at}
)


class ContactRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, contact: Contact) -> Contact:
        self.session.add(contact)
        await self.session.flush()
        return contact

    async def get(
        self, workspace_id: uuid.UUID, client_id: uuid.UUID, contact_id: uuid.UUID
    ) -> Contact | None:
        stmt = sa.select(Contact).where(
            Contact.workspace_id == workspace_id,
            Contact.client_id == client_id,
            Contact.id == contact_id,
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_by_email(self, client_id: uuid.UUID, email: str) -> Contact | None:
        stmt = sa.select(Contact).where(Contact.client_id == client_id, Contact.email == email)
        return (await self.session.scalars(stmt)).one_or_none()

    async def demote_primary(self, client_id: uuid.UUID, keep_id: uuid.UUID) -> None:
        """Runs before the new primary is flushed, so the one-primary index never sees two."""
        await self.session.execute(
            sa.update(Contact)
            .where(Contact.client_id == client_id, Contact.is_primary, Contact.id != keep_id)
            .values(is_primary=False, version=Contact.version + 1, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )

    async def page(
        self,
        workspace_id: uuid.UUID,
        client_id: uuid.UUID,
        *,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[Contact]:
        stmt = sa.select(Contact).where(
            Contact.workspace_id == workspace_id, Contact.client_id == client_id
        )
        return await paginate(
            self.session,
            stmt,
            id_column=Contact.id,
            sort=sort,
            key=CONTACT_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def delete(self, contact: Contact) -> None:
        await self.session.delete(contact)
        await self.session.flush()
