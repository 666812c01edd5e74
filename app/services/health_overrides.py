"""Overrides: a person's band or score shown over the computed one until it expires; every
override is kept."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import HealthOverride
from app.db.repositories.health_overrides import HealthOverrideRepository
from app.db.repositories.paging import Page
from app.db.repositories.workspaces import ApiKeyRepository
from app.domain.api_keys import Principal
from app.domain.scorecards import band_for
from app.errors import InvalidInput, NotFound
from app.services.clients import load_client
from app.services.scorecards import assignment


async def create_override(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    data: dict[str, Any],
    now: datetime,
) -> HealthOverride:
    """A band, or a score whose band follows from the client's scorecard."""
    client = await load_client(session, principal, client_id)
    cards = await assignment(session, principal.workspace_id)
    card = cards.for_tier(client.tier)
    if card is None:
        raise NotFound("no scorecard applies to this client")
    bands = card.card.bands
    score_value = data.get("score")
    band = data.get("band")
    if (score_value is None) == (band is None):
        raise _invalid("body", "give either a score or a band")
    if band is not None and band not in [b.name for b in bands]:
        names = ", ".join(b.name for b in bands)
        raise _invalid("band", f"must be one of the scorecard's bands: {names}")
    if score_value is not None:
        band = band_for(bands, score_value)
    if data["expires_at"] <= now:
        raise _invalid("expires_at", "must be in the future")
    override = HealthOverride(
        id=uuid.uuid4(),
        workspace_id=principal.workspace_id,
        client_id=client.id,
        score=score_value,
        band=band,
        reason=data["reason"],
        author=data.get("author") or await _key_name(session, principal),
        api_key_id=principal.api_key_id,
        expires_at=data["expires_at"],
        created_at=now,
    )
    await HealthOverrideRepository(session).add(override)
    await session.flush()
    return override


def _invalid(field: str, message: str) -> InvalidInput:
    loc = ["body"] if field == "body" else ["body", field]
    return InvalidInput(message, errors=[{"loc": loc, "msg": message, "type": "value_error"}])


async def list_overrides(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    *,
    cursor: str | None,
    limit: int,
) -> Page[HealthOverride]:
    client = await load_client(session, principal, client_id)
    return await HealthOverrideRepository(session).page(
        principal.workspace_id, client.id, cursor=cursor, limit=limit
    )


async def _key_name(session: AsyncSession, principal: Principal) -> str:
    key = await ApiKeyRepository(session).get(principal.workspace_id, principal.api_key_id)
    return key.name if key is not None else str(principal.api_key_id)
