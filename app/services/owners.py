"""Account managers: the one named owner every client should have."""

import uuid
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Owner
from app.db.repositories.owners import OwnerRepository
from app.db.repositories.paging import Page
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.errors import Conflict, NotFound


async def create_owner(session: AsyncSession, principal: Principal, data: dict[str, Any]) -> Owner:
    owners = OwnerRepository(session)
    owner = Owner(workspace_id=principal.workspace_id, **data)
    owner.email = owner.email.lower()
    await _check_unique(owners, owner)
    await owners.add(owner)
    await session.flush()
    return owner


async def get_owner(session: AsyncSession, principal: Principal, owner_id: uuid.UUID) -> Owner:
    owner = await OwnerRepository(session).get(principal.workspace_id, owner_id)
    if owner is None:
        raise NotFound("owner not found")
    return owner


async def list_owners(
    session: AsyncSession,
    principal: Principal,
    *,
    active: bool | None,
    q: str | None,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[Owner]:
    return await OwnerRepository(session).page(
        principal.workspace_id, active=active, q=q, sort=sort, cursor=cursor, limit=limit
    )


async def update_owner(
    session: AsyncSession,
    principal: Principal,
    owner_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None,
) -> Owner:
    owners = OwnerRepository(session)
    owner = await get_owner(session, principal, owner_id)
    check_if_match(if_match, etag(owner.id, owner.version))
    for field, value in changes.items():
        setattr(owner, field, value.lower() if field == "email" else value)
    await _check_unique(owners, owner)
    await session.flush()
    return owner


async def delete_owner(
    session: AsyncSession, principal: Principal, owner_id: uuid.UUID, if_match: str | None
) -> None:
    owners = OwnerRepository(session)
    owner = await get_owner(session, principal, owner_id)
    check_if_match(if_match, etag(owner.id, owner.version))
    if await owners.owns_clients(principal.workspace_id, owner.id):
        raise Conflict("the owner still owns clients; reassign them or set active=false")
    await owners.delete(owner)
    await session.flush()


async def _check_unique(owners: OwnerRepository, owner: Owner) -> None:
    same_email = await owners.find_by_email(owner.workspace_id, owner.email)
    if same_email is not None and same_email.id != owner.id:
        raise Conflict(f"an owner with email {owner.email!r} already exists")
    if owner.external_id is not None:
        same_ext = await owners.find_by_external_id(owner.workspace_id, owner.external_id)
        if same_ext is not None and same_ext.id != owner.id:
            raise Conflict(f"an owner with external_id {owner.external_id!r} already exists")
