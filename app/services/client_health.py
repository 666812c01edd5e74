"""Reading health: one client's score now or as of a moment, its history, the portfolio, and
the overrides people put over computed scores."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import HealthOverride, HealthScore
from app.db.repositories.clients import ClientFilters, ClientRepository
from app.db.repositories.health import ClientRef, HealthRepository, PortfolioFilters, PortfolioRow
from app.db.repositories.health_aggregates import AsOf
from app.db.repositories.health_overrides import HealthOverrideRepository
from app.db.repositories.paging import Page
from app.domain.api_keys import Principal
from app.domain.health import HealthScore as Health
from app.domain.scorecards import UNKNOWN_BAND, band_for
from app.errors import InvalidInput, NotFound
from app.services.clients import load_client
from app.services.health import Scored, score_clients, stored_score
from app.services.scorecards import LiveScorecard, assignment, in_force_at


@dataclass(frozen=True)
class HealthView:
    client_id: uuid.UUID
    scorecard: LiveScorecard
    computed_at: datetime
    health: Health
    override: HealthOverride | None


async def get_health(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    as_of: datetime | None,
    now: datetime,
) -> HealthView:
    """Computed now, or as of a past moment from the events recorded by then; deltas are
    against the snapshot stored before that moment."""
    workspace_id = principal.workspace_id
    client = await load_client(session, principal, client_id)
    at = as_of or now
    if at > now:
        raise InvalidInput(
            "as_of is in the future",
            errors=[{"loc": ["query", "as_of"], "msg": "in the future", "type": "value_error"}],
        )
    cards = await assignment(session, workspace_id, now)
    repo = HealthRepository(session)
    before = await repo.before(workspace_id, [client.id], at)
    previous = {c: stored_score(row) for c, row in before.items()}
    card = cards.for_tier(client.tier)
    if card is None:
        raise NotFound("no scorecard applies to this client")
    if as_of is not None:
        card = await in_force_at(session, workspace_id, card, at)
    ref = ClientRef(client.id, client.tier)
    (result,) = await score_clients(
        session, workspace_id, [ref], cards, AsOf(at, known_by=at), previous, only=card
    )
    override = await HealthOverrideRepository(session).active(workspace_id, client.id, at)
    return HealthView(client.id, result.scorecard, at, result.health, override)


async def history(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[HealthScore]:
    client = await load_client(session, principal, client_id)
    _check_range(start, end, "from", "to")
    return await HealthRepository(session).history(
        principal.workspace_id, client.id, start=start, end=end, cursor=cursor, limit=limit
    )


def _check_range(start: datetime | None, end: datetime | None, first: str, last: str) -> None:
    if start is not None and end is not None and start > end:
        raise InvalidInput(
            f"{first} is after {last}",
            errors=[{"loc": ["query", first], "msg": f"after {last}", "type": "value_error"}],
        )


@dataclass(frozen=True)
class PortfolioItem:
    client_id: uuid.UUID
    client_name: str
    tier: str | None
    owner_id: uuid.UUID | None
    scorecard_id: uuid.UUID | None
    scorecard_version: int | None
    score: float | None
    band: str
    computed_at: datetime | None
    change: float | None


async def portfolio(
    session: AsyncSession,
    principal: Principal,
    filters: PortfolioFilters,
    *,
    sort: str,
    period_days: int,
    as_of: datetime | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> Page[PortfolioItem]:
    """Stored scores, sorted and filtered in SQL; or, with `as_of`, the page's clients (in
    creation order) scored set-based as of then."""
    if as_of is None:
        if sort == "created_at":
            raise InvalidInput(
                "sort=created_at is the order of as_of pages",
                errors=[{"loc": ["query", "sort"], "msg": "needs as_of", "type": "value_error"}],
            )
        page = await HealthRepository(session).portfolio(
            principal.workspace_id,
            filters,
            sort=sort,
            since=now - timedelta(days=period_days),
            cursor=cursor,
            limit=limit,
        )
        return Page([_item(r) for r in page.items], page.next_cursor, page.has_more)
    if as_of > now:
        raise InvalidInput(
            "as_of is in the future",
            errors=[{"loc": ["query", "as_of"], "msg": "in the future", "type": "value_error"}],
        )
    if filters.band is not None or sort != "created_at":
        raise InvalidInput(
            "with as_of, pages follow client creation order and cannot filter by band",
            errors=[
                {"loc": ["query", "as_of"], "msg": "not with band or sort", "type": "value_error"}
            ],
        )
    clients = await ClientRepository(session).page(
        principal.workspace_id,
        ClientFilters(owner_id=filters.owner_id, tier=filters.tier),
        sort="created_at",
        cursor=cursor,
        limit=limit,
    )
    cards = await assignment(session, principal.workspace_id, now)
    refs = [ClientRef(c.id, c.tier) for c in clients.items]
    scored = {
        s.client_id: s
        for s in await score_clients(
            session, principal.workspace_id, refs, cards, AsOf(as_of, known_by=as_of)
        )
    }
    items = [
        _scored_item(c.id, c.name, c.tier, c.owner_id, scored[c.id], as_of)
        for c in clients.items
        if c.id in scored
    ]
    return Page(items, clients.next_cursor, clients.has_more)


def _item(row: PortfolioRow) -> PortfolioItem:
    s = row.score
    return PortfolioItem(
        client_id=row.client_id,
        client_name=row.client_name,
        tier=row.tier,
        owner_id=row.owner_id,
        scorecard_id=s.scorecard_id if s else None,
        scorecard_version=s.scorecard_version if s else None,
        score=s.score if s else None,
        band=s.band if s else UNKNOWN_BAND,
        computed_at=s.computed_at if s else None,
        change=None if row.change is None else round(row.change, 1),
    )


def _scored_item(
    client_id: uuid.UUID,
    name: str,
    tier: str | None,
    owner_id: uuid.UUID | None,
    scored: Scored,
    at: datetime,
) -> PortfolioItem:
    return PortfolioItem(
        client_id=client_id,
        client_name=name,
        tier=tier,
        owner_id=owner_id,
        scorecard_id=scored.scorecard.id,
        scorecard_version=scored.scorecard.version,
        score=scored.health.score,
        band=scored.health.band,
        computed_at=at,
        change=None,
    )


async def create_override(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    data: dict[str, Any],
    now: datetime,
) -> HealthOverride:
    """A band, or a score whose band follows from the client's scorecard."""
    client = await load_client(session, principal, client_id)
    cards = await assignment(session, principal.workspace_id, now)
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
        author=data["author"],
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
