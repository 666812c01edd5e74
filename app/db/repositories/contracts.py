import uuid
from collections import defaultdict
from dataclasses import dataclass
from datetime import date

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Contract
from app.db.repositories.paging import Page, paginate, sort_keys

CONTRACT_SORTS = sort_keys(
    {
        "created_at": Contract.created_at,
        "updated_at": Contract.updated_at,
        "starts_on": Contract.starts_on,
    }
)


@dataclass(frozen=True)
class ContractFilters:
    client_id: uuid.UUID | None = None
    status: str | None = None
    active_on: date | None = None


class ContractRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, contract: Contract) -> Contract:
        self.session.add(contract)
        await self.session.flush()
        return contract

    async def get(self, workspace_id: uuid.UUID, contract_id: uuid.UUID) -> Contract | None:
        stmt = sa.select(Contract).where(
            Contract.workspace_id == workspace_id, Contract.id == contract_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_by_external_id(
        self, workspace_id: uuid.UUID, external_id: str
    ) -> Contract | None:
        stmt = sa.select(Contract).where(
            Contract.workspace_id == workspace_id, Contract.external_id == external_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def for_clients(
        self, workspace_id: uuid.UUID, client_ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[Contract]]:
        """Every contract of the given clients in one query, grouped by client."""
        grouped: dict[uuid.UUID, list[Contract]] = defaultdict(list)
        if not client_ids:
            return grouped
        stmt = sa.select(Contract).where(
            Contract.workspace_id == workspace_id, Contract.client_id.in_(client_ids)
        )
        for contract in (await self.session.scalars(stmt)).all():
            grouped[contract.client_id].append(contract)
        return grouped

    async def page(
        self,
        workspace_id: uuid.UUID,
        filters: ContractFilters,
        *,
        sort: str,
        cursor: str | None,
        limit: int,
    ) -> Page[Contract]:
        stmt = sa.select(Contract).where(Contract.workspace_id == workspace_id)
        if filters.client_id is not None:
            stmt = stmt.where(Contract.client_id == filters.client_id)
        if filters.status is not None:
            stmt = stmt.where(Contract.status == filters.status)
        if filters.active_on is not None:
            stmt = stmt.where(
                Contract.starts_on <= filters.active_on,
                sa.or_(Contract.ends_on.is_(None), Contract.ends_on >= filters.active_on),
            )
        return await paginate(
            self.session,
            stmt,
            id_column=Contract.id,
            sort=sort,
            key=CONTRACT_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    async def expired_unannounced(self, today: date, limit: int) -> list[Contract]:
        """Active contracts past their last day whose end nobody has announced yet, across
        workspaces, oldest end first."""
        stmt = (
            sa.select(Contract)
            .where(
                Contract.status == "active",
                Contract.ends_on < today,
                Contract.ended_at.is_(None),
            )
            .order_by(Contract.ends_on, Contract.id)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def delete(self, contract: Contract) -> None:
        await self.session.delete(contract)
        await self.session.flush()
