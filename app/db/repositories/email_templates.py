import uuid

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import EmailTemplate
from app.db.repositories.paging import Page, paginate, sort_keys

EMAIL_TEMPLATE_SORTS = sort_keys(
    {
        "name": EmailTemplate.name,
        "created_at": EmailTemplate.created_at,
        "updated_at": EmailTemplate.updated_at,
    }
)


class EmailTemplateRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, template: EmailTemplate) -> EmailTemplate:
        self.session.add(template)
        await self.session.flush()
        return template

    async def get(self, workspace_id: uuid.UUID, template_id: uuid.UUID) -> EmailTemplate | None:
        stmt = sa.select(EmailTemplate).where(
            EmailTemplate.workspace_id == workspace_id, EmailTemplate.id == template_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def name_taken(
        self, workspace_id: uuid.UUID, name: str, other_than: uuid.UUID | None
    ) -> bool:
        stmt = sa.select(
            sa.exists().where(
                EmailTemplate.workspace_id == workspace_id,
                EmailTemplate.name == name,
                EmailTemplate.id != other_than if other_than else sa.true(),
            )
        )
        return bool(await self.session.scalar(stmt))

    async def page(
        self,
        workspace_id: uuid.UUID,
        *,
        q: str | None,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[EmailTemplate]:
        stmt = sa.select(EmailTemplate).where(EmailTemplate.workspace_id == workspace_id)
        if q:
            stmt = stmt.where(EmailTemplate.name.icontains(q, autoescape=True))
        return await paginate(
            self.session,
            stmt,
            id_column=EmailTemplate.id,
            sort=sort,
            key=EMAIL_TEMPLATE_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def delete(self, template: EmailTemplate) -> None:
        await self.session.delete(template)
        await self.session.flush()
