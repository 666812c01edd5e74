"""Client health, the one service: evaluate (aggregates in SQL, score in the domain), store what
moved, and read — a client's score now or as of a moment, its history, the portfolio.

Writers only flush: the job or request that calls them commits. A snapshot is stored when the
score moves by at least the scorecard's `min_delta`, the band changes, or another scorecard
version scores the client; each stored change is announced on the outbox (`health.changed`)
and every evaluated client's trend goes to the signals evaluation.
"""

import asyncio
import contextlib
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from app.db.models import HealthOverride, HealthSnapshot
from app.db.repositories.clients import ClientFilters, ClientRepository
from app.db.repositories.health import ClientRef, HealthRepository, PortfolioFilters, PortfolioRow
from app.db.repositories.health_aggregates import AsOf, Selection, measure_aggregates
from app.db.repositories.health_overrides import HealthOverrideRepository
from app.db.repositories.paging import Page
from app.db.repositories.workspaces import WorkspaceRepository
from app.domain.api_keys import Principal
from app.domain.health import (
    HealthScore,
    Knowledge,
    RawValue,
    StoredScore,
    measures_document,
    quick_score,
    raw_values,
    score,
    should_store,
)
from app.domain.scorecards import UNKNOWN_BAND
from app.domain.scorecards import Scorecard as Card
from app.domain.signals import ScoreTrend
from app.errors import InvalidInput, NotFound
from app.facts import HealthChange, HealthChanged
from app.services.clients import load_client
from app.services.outbox import emit
from app.services.scorecards import Assignment, LiveScorecard, assignment, in_force_at
from app.services.signals import evaluate_signals

TREND_WINDOW = timedelta(days=14)
BATCH_SIZE = 2_000


@dataclass(frozen=True)
class Scored:
    client_id: uuid.UUID
    scorecard: LiveScorecard
    health: HealthScore


@dataclass(frozen=True)
class Evaluation:
    evaluated: int
    stored: int


@dataclass(frozen=True)
class Measured:
    client_id: uuid.UUID
    scorecard: LiveScorecard
    raw: dict[str, RawValue]


async def measure_clients(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    refs: Sequence[ClientRef],
    cards: Assignment,
    as_of: AsOf,
    *,
    only: LiveScorecard | None = None,
    span: Selection | None = None,
) -> list[Measured]:
    """Each client's raw values by its scorecard (or `only` one), one aggregate statement per
    scorecard; `span` reads the batch by id range instead of listing the ids."""
    groups: dict[tuple[str, int], tuple[LiveScorecard, list[uuid.UUID]]] = {}
    for ref in refs:
        card = only or cards.for_tier(ref.tier)
        if card is not None:
            groups.setdefault(card.key, (card, []))[1].append(ref.id)
    measured = []
    for card, ids in groups.values():
        selection = span or Selection.of(ids)
        aggregates = await measure_aggregates(
            session, workspace_id, card.card.measures, selection, as_of
        )
        for client_id in ids:
            raw = raw_values(card.card, aggregates.get(client_id, {}), as_of.at)
            measured.append(Measured(client_id, card, raw))
    return measured


async def score_clients(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    refs: Sequence[ClientRef],
    cards: Assignment,
    as_of: AsOf,
    previous: Mapping[uuid.UUID, StoredScore] | None = None,
    *,
    only: LiveScorecard | None = None,
) -> list[Scored]:
    """Explained scores; `previous` feeds the deltas."""
    scored = []
    for m in await measure_clients(session, workspace_id, refs, cards, as_of, only=only):
        before = previous.get(m.client_id) if previous else None
        health = score(m.scorecard.card, m.raw, before.contributions if before else None)
        scored.append(Scored(m.client_id, m.scorecard, health))
    return scored


def as_of_view(at: datetime, knowledge: Knowledge) -> AsOf:
    """The events a score as of `at` counts: those recorded by then, or all that occurred."""
    return AsOf(at, known_by=at if knowledge is Knowledge.RECORDED else None)


def stored_score(row: HealthSnapshot | Any) -> StoredScore:
    return StoredScore(
        score=row.score,
        band=row.band,
        version=(str(row.scorecard_id), row.scorecard_version),
        contributions={m["key"]: m["contribution"] for m in row.measures},
    )


def snapshot_row(
    workspace_id: uuid.UUID, scored: Scored, at: datetime, source: str, now: datetime
) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "workspace_id": workspace_id,
        "client_id": scored.client_id,
        "scorecard_id": scored.scorecard.id,
        "scorecard_version": scored.scorecard.version,
        "computed_at": at,
        "score": scored.health.score,
        "band": scored.health.band,
        "groups": scored.health.groups,
        "measures": measures_document(scored.health),
        "source": source,
        "created_at": now,
    }


async def evaluate_clients(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client_ids: Sequence[uuid.UUID],
    now: datetime,
) -> Evaluation:
    """Score the clients as of `now` from the events recorded by then; flushes only."""
    if await WorkspaceRepository(session).get(workspace_id) is None:
        return Evaluation(0, 0)
    cards = await assignment(session, workspace_id)
    refs = await HealthRepository(session).clients(workspace_id, sorted(set(client_ids)))
    return await _evaluate(
        session, workspace_id, refs, Selection.of([r.id for r in refs]), cards, now
    )


async def _evaluate(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    refs: Sequence[ClientRef],
    selection: Selection,
    cards: Assignment,
    now: datetime,
    measured: list[Measured] | None = None,
) -> Evaluation:
    """Scores every client, explains and stores only those that moved; `measured` when the
    raw values were read ahead."""
    if not refs:
        return Evaluation(0, 0)
    repo = HealthRepository(session)
    ids = [r.id for r in refs]
    previous = {
        row.client_id: StoredScore(
            row.score, row.band, (str(row.scorecard_id), row.scorecard_version)
        )
        for row in (await repo.latest(workspace_id, selection)).values()
    }
    if measured is None:
        measured = await measure_clients(
            session, workspace_id, refs, cards, AsOf(now, known_by=now), span=selection
        )
    highest = await repo.highest_since(workspace_id, selection, now - TREND_WINDOW)
    moved: list[Measured] = []
    trends = {}
    for m in measured:
        card = m.scorecard.card
        value, band = quick_score(card, m.raw)
        before = previous.get(m.client_id)
        if should_store(before, value, band, card.min_delta, m.scorecard.key):
            moved.append(m)
        if value is not None:
            trends[m.client_id] = _trend(value, band, card, before, highest.get(m.client_id))
    contributions = await repo.contributions(
        workspace_id, [m.client_id for m in moved if m.client_id in previous]
    )
    rows, changes = [], []
    for m in moved:
        health = score(m.scorecard.card, m.raw, contributions.get(m.client_id))
        scored = Scored(m.client_id, m.scorecard, health)
        rows.append(snapshot_row(workspace_id, scored, now, "live", now))
        changes.append(_change(scored, previous.get(m.client_id), now))
    await repo.store(rows)
    await emit(session, HealthChanged.split(changes), workspace_id=workspace_id, now=now)
    await session.flush()
    await evaluate_signals(session, workspace_id, ids, now, trends)
    return Evaluation(len(measured), len(rows))


def _change(s: Scored, before: StoredScore | None, now: datetime) -> HealthChange:
    return HealthChange(
        client_id=s.client_id,
        score=s.health.score,
        band=s.health.band,
        previous_score=before.score if before else None,
        previous_band=before.band if before else None,
        scorecard_id=s.scorecard.id,
        scorecard_version=s.scorecard.version,
        computed_at=now,
    )


def _trend(
    value: float, band: str, card: Card, before: StoredScore | None, highest: float | None
) -> ScoreTrend:
    peak = max(
        [v for v in (highest, before.score if before else None) if v is not None], default=None
    )
    bands = [b.name for b in card.bands]
    worsened = (
        before is not None
        and before.band in bands
        and band in bands
        and bands.index(band) > bands.index(before.band)
    )
    return ScoreTrend(
        score=value,
        band=band,
        drop_in_window=max(peak - value, 0.0) if peak is not None else 0.0,
        band_worsened=worsened,
    )


async def rescore_workspace(
    session: AsyncSession, workspace_id: uuid.UUID, now: datetime, batch_size: int = BATCH_SIZE
) -> Evaluation:
    """The whole portfolio in batches of clients, each batch set-based; flushes only.

    On PostgreSQL the next batch's aggregates are read on a second connection while this
    batch is scored and stored, so the database and Python work at the same time. The read
    ahead sees committed events, contracts and clients only, which is all it reads."""
    cards = await assignment(session, workspace_id)
    repo = HealthRepository(session)
    as_of = AsOf(now, known_by=now)
    reader = _reader(session)

    async def measure(refs: list[ClientRef]) -> list[Measured]:
        span = Selection.span([r.id for r in refs])
        return await measure_clients(reader or session, workspace_id, refs, cards, as_of, span=span)

    evaluated = stored = 0
    ahead: asyncio.Future[list[Measured]] | None = None
    try:
        refs = await repo.client_batch(workspace_id, None, batch_size)
        ahead = asyncio.ensure_future(measure(refs)) if reader and refs else None
        while refs:
            following = await repo.client_batch(workspace_id, refs[-1].id, batch_size)
            measured = await ahead if ahead else None
            ahead = asyncio.ensure_future(measure(following)) if reader and following else None
            span = Selection.span([r.id for r in refs])
            result = await _evaluate(session, workspace_id, refs, span, cards, now, measured)
            evaluated += result.evaluated
            stored += result.stored
            refs = following
    finally:
        if ahead is not None and not ahead.done():
            ahead.cancel()
            with contextlib.suppress(BaseException):
                await ahead
        if reader is not None:
            await reader.close()
    return Evaluation(evaluated, stored)


def _reader(session: AsyncSession) -> AsyncSession | None:
    """A read-only companion session on PostgreSQL; SQLite reads on the one connection."""
    bind = session.bind
    if not isinstance(bind, AsyncEngine) or bind.dialect.name != "postgresql":
        return None
    return AsyncSession(bind=bind, expire_on_commit=False)


async def rescore_all(
    session: AsyncSession, workspace_ids: Sequence[uuid.UUID], now: datetime
) -> Evaluation:
    evaluated = stored = 0
    for workspace_id in workspace_ids:
        result = await rescore_workspace(session, workspace_id, now)
        evaluated += result.evaluated
        stored += result.stored
    return Evaluation(evaluated, stored)


@dataclass(frozen=True)
class HealthView:
    client_id: uuid.UUID
    scorecard: LiveScorecard
    computed_at: datetime
    health: HealthScore
    override: HealthOverride | None
    knowledge: Knowledge


async def get_health(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    as_of: datetime | None,
    now: datetime,
    knowledge: Knowledge = Knowledge.RECORDED,
) -> HealthView:
    """Computed now, or as of a past moment from the events recorded by then (or, with
    `occurred`, every event that had occurred by then); deltas are against the snapshot
    stored before that moment."""
    workspace_id = principal.workspace_id
    client = await load_client(session, principal, client_id)
    at = as_of or now
    if at > now:
        raise InvalidInput(
            "as_of is in the future",
            errors=[{"loc": ["query", "as_of"], "msg": "in the future", "type": "value_error"}],
        )
    cards = await assignment(session, workspace_id)
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
        session, workspace_id, [ref], cards, as_of_view(at, knowledge), previous, only=card
    )
    override = await HealthOverrideRepository(session).active(workspace_id, client.id, at)
    return HealthView(client.id, result.scorecard, at, result.health, override, knowledge)


async def history(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    *,
    start: datetime | None,
    end: datetime | None,
    cursor: str | None,
    limit: int,
) -> Page[HealthSnapshot]:
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
    knowledge: Knowledge = Knowledge.RECORDED,
) -> Page[PortfolioItem]:
    """Stored scores, sorted and filtered in SQL; or, with `as_of`, the page's clients (in
    creation order) scored set-based as of then, in the `knowledge` view."""
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
    cards = await assignment(session, principal.workspace_id)
    refs = [ClientRef(c.id, c.tier) for c in clients.items]
    scored = {
        s.client_id: s
        for s in await score_clients(
            session, principal.workspace_id, refs, cards, as_of_view(as_of, knowledge)
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
