"""The context email templates render with, for one client or for a send job's thousands."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories.email_context import ContactRow, ContextRows, EmailContextRepository
from app.domain import email_context
from app.domain.api_keys import Principal
from app.domain.email_context import ClientFacts, ContextFacts, HealthFacts, PersonFacts
from app.errors import InvalidInput


@dataclass(frozen=True)
class EmailContext:
    client_id: uuid.UUID
    contact_id: uuid.UUID | None
    """The recipient contact (`variables["contact"]`), or None when the client has none."""
    variables: dict[str, Any]
    """`app.domain.email_context.build`'s variables: what `email_templates.render` takes."""

    @property
    def to(self) -> tuple[str, str | None] | None:
        """The contact's (email, name), when the contact has an email."""
        contact = self.variables["contact"]
        return (contact["email"], contact["name"]) if contact["email"] else None


async def contexts_for(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client_ids: Sequence[uuid.UUID],
    now: datetime,
    *,
    contacts: Mapping[uuid.UUID, uuid.UUID] | None = None,
    role: str | None = None,
) -> dict[uuid.UUID, EmailContext]:
    """The context of each client of the workspace among `client_ids` (others are left out), in
    three statements whatever their number. The recipient is, per client: the contact named in
    `contacts` (if it is the client's), else with `role` the client's contact holding that role
    (primary first, then oldest; None if none does), else the primary contact."""
    chosen = dict(contacts or {})
    rows = await EmailContextRepository(session).rows(
        workspace_id, client_ids, contact_ids=chosen.values(), role=role
    )
    found = {}
    for client_id, row in rows.clients.items():
        contact = _recipient(rows, client_id, chosen.get(client_id), role)
        facts = ContextFacts(
            workspace_name=row.workspace_name,
            client=ClientFacts(
                name=row.name,
                tier=row.tier,
                stage=row.lifecycle_stage,
                status=row.status,
                domain=row.domain,
                external_id=row.external_id,
                attributes=row.attributes or {},
                last_touchpoint_at=row.last_touchpoint_at,
            ),
            contact=PersonFacts(contact.name, contact.email, contact.role) if contact else None,
            owner=PersonFacts(row.owner_name, row.owner_email) if row.owner_name else None,
            health=None
            if row.health_band is None
            else HealthFacts(row.health_score, row.health_band, row.health_measures or []),
            contracts=rows.contracts.get(client_id, []),
        )
        found[client_id] = EmailContext(
            client_id, contact.id if contact else None, email_context.build(facts, now)
        )
    return found


def _recipient(
    rows: ContextRows, client_id: uuid.UUID, contact_id: uuid.UUID | None, role: str | None
) -> ContactRow | None:
    candidates = rows.contacts.get(client_id, [])
    if contact_id is not None:
        return next((c for c in candidates if c.id == contact_id), None)
    if role:
        wanted = role.lower()
        return next((c for c in candidates if (c.role or "").lower() == wanted), None)
    return next((c for c in candidates if c.is_primary), None)


async def context_for(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    now: datetime,
    contact_id: uuid.UUID | None = None,
) -> EmailContext:
    """One client's context; a client or contact not of the workspace is a bad reference."""
    chosen = {client_id: contact_id} if contact_id else None
    found = await contexts_for(session, principal.workspace_id, [client_id], now, contacts=chosen)
    context = found.get(client_id)
    if context is None:
        raise _reference("client_id", "client_id does not name a client of this workspace")
    if contact_id is not None and context.contact_id != contact_id:
        raise _reference("contact_id", "contact_id does not name a contact of this client")
    return context


def _reference(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        message, errors=[{"loc": ["body", field], "msg": message, "type": "reference"}]
    )
