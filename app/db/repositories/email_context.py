"""What email templates read about many clients, in three statements whatever their number:
the clients with their workspace, owner and latest health snapshot; the contacts that may be
the recipient; the active contracts."""

import uuid
from collections import defaultdict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.functions import in_ids
from app.db.models import Client, Contact, Contract, HealthSnapshot, Owner, Workspace
from app.domain.contracts import ContractStatus, ContractTerms


@dataclass(frozen=True)
class ContactRow:
    id: uuid.UUID
    client_id: uuid.UUID
    name: str
    email: str | None
    role: str | None
    is_primary: bool


@dataclass(frozen=True)
class ContextRows:
    clients: Mapping[uuid.UUID, Any]
    """By client id: the client's columns, `workspace_name`, `owner_*` and `health_*`."""
    contacts: Mapping[uuid.UUID, list[ContactRow]]
    """By client id, primary first, then oldest."""
    contracts: Mapping[uuid.UUID, list[ContractTerms]]


class EmailContextRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def rows(
        self,
        workspace_id: uuid.UUID,
        client_ids: Sequence[uuid.UUID],
        *,
        contact_ids: Collection[uuid.UUID] = (),
        role: str | None = None,
    ) -> ContextRows:
        """The clients of the workspace among `client_ids` (others are left out), with their
        primary contacts, the contacts named and those holding `role` (any case)."""
        ids = sorted(set(client_ids))
        if not ids:
            return ContextRows({}, {}, {})
        return ContextRows(
            await self._clients(workspace_id, ids),
            await self._contacts(workspace_id, ids, sorted(set(contact_ids)), role),
            await self._contracts(workspace_id, ids),
        )

    async def _clients(self, workspace_id: uuid.UUID, ids: list[uuid.UUID]) -> dict[uuid.UUID, Any]:
        stmt = (
            sa.select(
                Client.id,
                Client.name,
                Client.tier,
                Client.lifecycle_stage,
                Client.status,
                Client.domain,
                Client.external_id,
                Client.attributes,
                Client.last_touchpoint_at,
                Workspace.name.label("workspace_name"),
                Owner.name.label("owner_name"),
                Owner.email.label("owner_email"),
                HealthSnapshot.score.label("health_score"),
                HealthSnapshot.band.label("health_band"),
                HealthSnapshot.measures.label("health_measures"),
            )
            .select_from(Client)
            .join(Workspace, Workspace.id == Client.workspace_id)
            .outerjoin(Owner, Owner.id == Client.owner_id)
            .outerjoin(
                HealthSnapshot,
                sa.and_(HealthSnapshot.client_id == Client.id, HealthSnapshot.latest.is_(True)),
            )
            .where(Client.workspace_id == workspace_id, in_ids(Client.id, ids))
        )
        return {row.id: row for row in (await self.session.execute(stmt)).all()}

    async def _contacts(
        self,
        workspace_id: uuid.UUID,
        ids: list[uuid.UUID],
        contact_ids: list[uuid.UUID],
        role: str | None,
    ) -> dict[uuid.UUID, list[ContactRow]]:
        wanted: list[sa.ColumnElement[bool]] = [Contact.is_primary.is_(True)]
        if contact_ids:
            wanted.append(in_ids(Contact.id, contact_ids))
        if role:
            wanted.append(sa.func.lower(Contact.role) == role.lower())
        stmt = (
            sa.select(
                Contact.id,
                Contact.client_id,
                Contact.name,
                Contact.email,
                Contact.role,
                Contact.is_primary,
            )
            .where(
                Contact.workspace_id == workspace_id,
                in_ids(Contact.client_id, ids),
                sa.or_(*wanted),
            )
            .order_by(Contact.client_id, Contact.is_primary.desc(), Contact.created_at, Contact.id)
        )
        found: dict[uuid.UUID, list[ContactRow]] = defaultdict(list)
        for row in (await self.session.execute(stmt)).all():
            found[row.client_id].append(ContactRow(*row))
        return found

    async def _contracts(
        self, workspace_id: uuid.UUID, ids: list[uuid.UUID]
    ) -> dict[uuid.UUID, list[ContractTerms]]:
        stmt = sa.select(
            Contract.client_id,
            Contract.starts_on,
            Contract.ends_on,
            Contract.amount,
            Contract.currency,
        ).where(
            Contract.workspace_id == workspace_id,
            in_ids(Contract.client_id, ids),
            Contract.status == ContractStatus.ACTIVE.value,
        )
        terms: dict[uuid.UUID, list[ContractTerms]] = defaultdict(list)
        for client_id, starts_on, ends_on, amount, currency in (
            await self.session.execute(stmt)
        ).all():
            terms[client_id].append(
                ContractTerms(starts_on, ends_on, amount, currency, ContractStatus.ACTIVE)
            )
        return terms
