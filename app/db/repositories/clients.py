import uuid
from dataclasses import dataclass
from datetime import date, datetime

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, ClientStageChange, Contract
from app.db.repositories.paging import Page, paginate, sort_keys

CLIENT_SORTS = sort_keys(
    {"name": Client.name, "created_at": Client.created_at, "updated_at": Client.updated_at}
)


@dataclass(frozen=True)
class ClientFilters:
    owner_id: uuid.UUID | None = None
    tier: str | None = None
    lifecycle_stage: str | None = None
    status: str | None = None
    q: str | None = None


class ClientRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, client: Client) -> Client:
        self.session.add(client)
        await self.session.flush()
        return client

    async def get(self, workspace_id: uuid.UUID, client_id: uuid.UUID) -> Client | None:
        stmt = sa.select(Client).where(Client.workspace_id == workspace_id, Client.id == client_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_by_external_id(self, workspace_id: uuid.UUID, external_id: str) -> Client | None:
        stmt = sa.select(Client).where(
            Client.workspace_id == workspace_id, Client.external_id == external_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def page(
        self,
        workspace_id: uuid.UUID,
        filters: ClientFilters,
        *,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[Client]:
        stmt = sa.select(Client).where(Client.workspace_id == workspace_id)
        if filters.owner_id is not None:
            stmt = stmt.where(Client.owner_id == filters.owner_id)
        if filters.tier is not None:
            stmt = stmt.where(Client.tier == filters.tier)
        if filters.lifecycle_stage is not None:
            stmt = stmt.where(Client.lifecycle_stage == filters.lifecycle_stage)
        if filters.status is not None:
            stmt = stmt.where(Client.status == filters.status)
        if filters.q:
            stmt = stmt.where(
                sa.or_(
                    Client.name.icontains(filters.q, autoescape=True),
                    Client.domain.icontains(filters.q, autoescape=True),
                )
            )
        return await paginate(
            self.session,
            stmt,
            id_column=Client.id,
            sort=sort,
            key=CLIENT_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def first_contract_on(self, workspace_id: uuid.UUID, client_id: uuid.UUID) -> date | None:
        stmt = sa.select(sa.func.min(Contract.starts_on)).where(
            Contract.workspace_id == workspace_id, Contract.client_id == client_id
        )
        day: date | None = await self.session.scalar(stmt)
        return day

    async def set_acquisition(
        self,
        client_id: uuid.UUID,
        acquired_at: datetime,
        source: str,
        first_escalation_at: datetime | None,
    ) -> None:
        """A derived fact, not a user edit: neither `updated_at` nor the version moves. The
        client, when loaded in this session, is updated too."""
        await self.session.execute(
            sa.update(Client)
            .where(Client.id == client_id)
            .values(
                acquired_at=acquired_at,
                acquired_at_source=source,
                first_escalation_at=first_escalation_at,
                updated_at=Client.updated_at,
            )
            .execution_options(synchronize_session="evaluate")
        )

    async def delete(self, client: Client) -> None:
        await self.session.delete(client)
        await self.session.flush()

    async def add_stage_change(self, change: ClientStageChange) -> None:
        self.session.add(change)
        await self.session.flush()

    async def stage_history(
        self, workspace_id: uuid.UUID, client_id: uuid.UUID
    ) -> list[ClientStageChange]:
        stmt = (
            sa.select(ClientStageChange)
            .where(
                ClientStageChange.workspace_id == workspace_id,
                ClientStageChange.client_id == client_id,
            )
            .order_by(ClientStageChange.changed_at, ClientStageChange.id)
        )
        return list((await self.session.scalars(stmt)).all())

    async def tiers_in_use(self, workspace_id: uuid.UUID) -> set[str]:
        stmt = (
            sa.select(Client.tier)
            .where(Client.workspace_id == workspace_id, Client.tier.is_not(None))
            .distinct()
        )
        return {t for t in (await self.session.scalars(stmt)).all() if t is not None}

    async def stages_in_use(self, workspace_id: uuid.UUID) -> set[str]:
        stmt = (
            sa.select(Client.lifecycle_stage).where(Client.workspace_id == workspace_id).distinct()
        )
        return set((await self.session.scalars(stmt)).all())
