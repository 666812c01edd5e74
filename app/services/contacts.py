"""The people at a client; at most one of them is the primary contact."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Contact
from app.db.repositories.contacts import ContactRepository
from app.db.repositories.paging import Page
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.errors import Conflict, NotFound
from app.services.clients import load_client


async def create_contact(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID, data: dict[str, Any]
) -> Contact:
    client = await load_client(session, principal, client_id)
    contact = Contact(
        id=uuid.uuid4(), workspace_id=principal.workspace_id, client_id=client.id, **data
    )
    await _save(session, contact, creating=True)
    await session.flush()
    return contact


async def get_contact(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID, contact_id: uuid.UUID
) -> Contact:
    contact = await ContactRepository(session).get(principal.workspace_id, client_id, contact_id)
    if contact is None:
        raise NotFound("contact not found")
    return contact


async def list_contacts(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[Contact]:
    client = await load_client(session, principal, client_id)
    return await ContactRepository(session).page(
        principal.workspace_id, client.id, sort=sort, cursor=cursor, limit=limit
    )


async def update_contact(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    contact_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None,
) -> Contact:
    contact = await get_contact(session, principal, client_id, contact_id)
    check_if_match(if_match, etag(contact.id, contact.version))
    for field, value in changes.items():
        setattr(contact, field, value)
    await _save(session, contact, creating=False)
    await session.flush()
    return contact


async def delete_contact(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    contact_id: uuid.UUID,
    if_match: str | None,
) -> None:
    contact = await get_contact(session, principal, client_id, contact_id)
    check_if_match(if_match, etag(contact.id, contact.version))
    await ContactRepository(session).delete(contact)
    await session.flush()


async def _save(session: AsyncSession, contact: Contact, *, creating: bool) -> None:
    """Emails are unique per client; a new primary contact demotes the previous one."""
    contacts = ContactRepository(session)
    if contact.email is not None:
        contact.email = contact.email.lower()
        same = await contacts.find_by_email(contact.client_id, contact.email)
        if same is not None and same.id != contact.id:
            raise Conflict(f"a contact with email {contact.email!r} already exists at this client")
    if contact.is_primary:
        await contacts.demote_primary(contact.client_id, keep_id=contact.id)
    if creating:
        await contacts.add(contact)
    else:
        await session.flush()
