"""Workspaces, their vocabulary, and the API keys that act in them."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ApiKey, Workspace
from app.db.repositories.clients import ClientRepository
from app.db.repositories.paging import Page
from app.db.repositories.workspaces import ApiKeyRepository, WorkspaceRepository
from app.domain.api_keys import Principal, Scope, generate_key, hash_key, normalize_scopes
from app.domain.concurrency import check_if_match, etag
from app.domain.workspaces import (
    DEFAULT_LIFECYCLE_STAGES,
    DEFAULT_TIERS,
    validate_name,
    validate_vocabulary,
)
from app.errors import Conflict, NotFound, Unauthenticated
from app.services.playbooks import add_defaults as add_default_playbooks
from app.services.scorecards import add_default as add_default_scorecard

LAST_USED_RESOLUTION = timedelta(minutes=1)


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    secret: str


async def create_workspace(session: AsyncSession, name: str) -> tuple[Workspace, IssuedKey]:
    """A new workspace comes with one admin key, since nothing else could create the first."""
    workspace = Workspace(
        name=validate_name(name),
        tiers=list(DEFAULT_TIERS),
        lifecycle_stages=list(DEFAULT_LIFECYCLE_STAGES),
    )
    await WorkspaceRepository(session).add(workspace)
    await add_default_scorecard(session, workspace.id, workspace.created_at)
    await add_default_playbooks(session, workspace.id, workspace.created_at)
    issued = await _issue_key(session, workspace.id, "initial admin key", [Scope.ADMIN])
    await session.flush()
    return workspace, issued


async def get_workspace(session: AsyncSession, workspace_id: uuid.UUID) -> Workspace:
    workspace = await WorkspaceRepository(session).get(workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    return workspace


async def update_workspace(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None = None,
) -> Workspace:
    workspace = await get_workspace(session, workspace_id)
    check_if_match(if_match, etag(workspace.id, workspace.version))
    clients = ClientRepository(session)
    if "tiers" in changes:
        tiers = validate_vocabulary("tiers", changes["tiers"])
        in_use = await clients.tiers_in_use(workspace_id)
        if missing := sorted(in_use - set(tiers)):
            raise Conflict(f"tiers still used by clients: {', '.join(missing)}")
        workspace.tiers = tiers
    if "lifecycle_stages" in changes:
        stages = validate_vocabulary("lifecycle_stages", changes["lifecycle_stages"])
        in_use = await clients.stages_in_use(workspace_id)
        if missing := sorted(in_use - set(stages)):
            raise Conflict(f"lifecycle stages still used by clients: {', '.join(missing)}")
        workspace.lifecycle_stages = stages
    if "name" in changes:
        workspace.name = validate_name(changes["name"])
    await session.flush()
    return workspace


async def create_api_key(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, scopes: list[str]
) -> IssuedKey:
    key_name = validate_name(name, "an API key name")
    await get_workspace(session, workspace_id)
    issued = await _issue_key(session, workspace_id, key_name, normalize_scopes(scopes))
    await session.flush()
    return issued


async def list_api_keys(
    session: AsyncSession, workspace_id: uuid.UUID, *, sort: str, cursor: str | None, limit: int
) -> Page[ApiKey]:
    return await ApiKeyRepository(session).page(workspace_id, sort=sort, cursor=cursor, limit=limit)


async def revoke_api_key(
    session: AsyncSession, principal: Principal, key_id: uuid.UUID, now: datetime
) -> ApiKey:
    api_key = await ApiKeyRepository(session).get(principal.workspace_id, key_id)
    if api_key is None:
        raise NotFound("API key not found")
    if api_key.id == principal.api_key_id:
        raise Conflict("a key cannot revoke itself; use another admin key")
    if api_key.revoked_at is None:
        api_key.revoked_at = now
    await session.flush()
    return api_key


async def authenticate(session: AsyncSession, secret: str, now: datetime) -> Principal:
    keys = ApiKeyRepository(session)
    api_key = await keys.find_active_by_hash(hash_key(secret))
    if api_key is None:
        raise Unauthenticated("the API key is unknown or revoked")
    if api_key.last_used_at is None or now - api_key.last_used_at > LAST_USED_RESOLUTION:
        await keys.touch(api_key.id, now)
    return Principal(
        workspace_id=api_key.workspace_id,
        api_key_id=api_key.id,
        scopes=tuple(Scope(s) for s in api_key.scopes),
    )


async def _issue_key(
    session: AsyncSession, workspace_id: uuid.UUID, name: str, scopes: list[Scope]
) -> IssuedKey:
    new_key = generate_key()
    api_key = ApiKey(
        workspace_id=workspace_id,
        name=name,
        prefix=new_key.prefix,
        key_hash=new_key.hash,
        scopes=[str(s) for s in scopes],
    )
    await ApiKeyRepository(session).add(api_key)
    return IssuedKey(api_key=api_key, secret=new_key.secret)
