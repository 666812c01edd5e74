"""Client health: evaluate (aggregates in SQL, score in the domain), store what moved, read.

`evaluate_clients` and `rescore_workspace` only flush: the job that calls them commits with
its completion. A snapshot is stored when the score moves by at least the scorecard's
`min_delta`, the band changes, or another scorecard version scores the client; each stored
change is announced on the outbox (`health.changed`) and every evaluated client's trend goes
to the signals evaluation.
"""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import HealthScore
from app.db.repositories.health import ClientRef, HealthRepository
from app.db.repositories.health_aggregates import AsOf, measure_aggregates
from app.db.repositories.workspaces import WorkspaceRepository
from app.domain.health import (
    HealthScore as Health,
)
from app.domain.health import (
    StoredScore,
    health_from_document,
    measures_document,
    raw_values,
    score,
    should_store,
)
from app.domain.jobs import OutboxKind
from app.domain.signals import ScoreTrend
from app.services.outbox import emit
from app.services.scorecards import Assignment, LiveScorecard, assignment
from app.services.signals import evaluate_signals

TREND_WINDOW = timedelta(days=14)
BATCH_SIZE = 2_000
CHANGES_PER_MESSAGE = 500


@dataclass(frozen=True)
class Scored:
    client_id: uuid.UUID
    scorecard: LiveScorecard
    health: Health


@dataclass(frozen=True)
class Evaluation:
    evaluated: int
    stored: int


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
    """Each client by its scorecard (or `only` one), one aggregate statement per scorecard."""
    groups: dict[tuple[str, int], tuple[LiveScorecard, list[uuid.UUID]]] = {}
    for ref in refs:
        card = only or cards.for_tier(ref.tier)
        if card is not None:
            groups.setdefault(card.key, (card, []))[1].append(ref.id)
    scored = []
    for card, ids in groups.values():
        aggregates = await measure_aggregates(session, workspace_id, card.card.measures, ids, as_of)
        for client_id in ids:
            before = previous.get(client_id) if previous else None
            raw = raw_values(card.card, aggregates.get(client_id, {}), as_of.at)
            health = score(card.card, raw, before.health if before else None)
            scored.append(Scored(client_id, card, health))
    return scored


def stored_score(row: HealthScore) -> StoredScore:
    return StoredScore(
        score=row.score,
        band=row.band,
        version=(str(row.scorecard_id), row.scorecard_version),
        health=health_from_document(row.score, row.band, row.groups, row.measures),
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
    *,
    cards: Assignment | None = None,
) -> Evaluation:
    """Score the clients as of `now` from the events recorded by then; flushes only."""
    repo = HealthRepository(session)
    if cards is None:
        if await WorkspaceRepository(session).get(workspace_id) is None:
            return Evaluation(0, 0)
        cards = await assignment(session, workspace_id, now)
    refs = await repo.clients(workspace_id, sorted(set(client_ids)))
    ids = [r.id for r in refs]
    latest = await repo.latest(workspace_id, ids)
    previous = {c: stored_score(row) for c, row in latest.items()}
    scored = await score_clients(
        session, workspace_id, refs, cards, AsOf(now, known_by=now), previous
    )
    highest = await repo.highest_since(workspace_id, ids, now - TREND_WINDOW)
    rows, changes, trends = [], [], {}
    for s in scored:
        before = previous.get(s.client_id)
        if should_store(before, s.health, s.scorecard.card.min_delta, s.scorecard.key):
            rows.append(snapshot_row(workspace_id, s, now, "live", now))
            changes.append(_change(s, before, now))
        if s.health.score is not None:
            trends[s.client_id] = _trend(s, before, highest.get(s.client_id))
    await repo.store(rows)
    for start in range(0, len(changes), CHANGES_PER_MESSAGE):
        await emit(
            session,
            OutboxKind.HEALTH_CHANGED,
            {"changes": changes[start : start + CHANGES_PER_MESSAGE]},
            workspace_id=workspace_id,
            now=now,
        )
    await session.flush()
    await evaluate_signals(session, workspace_id, ids, now, trends)
    return Evaluation(len(scored), len(rows))


def _change(s: Scored, before: StoredScore | None, now: datetime) -> dict[str, Any]:
    return {
        "client_id": str(s.client_id),
        "score": s.health.score,
        "band": s.health.band,
        "previous_score": before.score if before else None,
        "previous_band": before.band if before else None,
        "scorecard_id": str(s.scorecard.id),
        "scorecard_version": s.scorecard.version,
        "computed_at": now.isoformat(),
    }


def _trend(s: Scored, before: StoredScore | None, highest: float | None) -> ScoreTrend:
    new = s.health.score or 0.0
    peak = max(
        [v for v in (highest, before.score if before else None) if v is not None], default=None
    )
    bands = [b.name for b in s.scorecard.card.bands]
    worsened = (
        before is not None
        and before.band in bands
        and s.health.band in bands
        and bands.index(s.health.band) > bands.index(before.band)
    )
    return ScoreTrend(
        score=new,
        band=s.health.band,
        drop_in_window=max(peak - new, 0.0) if peak is not None else 0.0,
        band_worsened=worsened,
    )


async def rescore_workspace(
    session: AsyncSession, workspace_id: uuid.UUID, now: datetime, batch_size: int = BATCH_SIZE
) -> Evaluation:
    """The whole portfolio in batches of clients, each batch set-based; flushes only."""
    cards = await assignment(session, workspace_id, now)
    repo = HealthRepository(session)
    evaluated = stored = 0
    after = None
    while refs := await repo.client_batch(workspace_id, after, batch_size):
        result = await evaluate_clients(
            session, workspace_id, [r.id for r in refs], now, cards=cards
        )
        evaluated += result.evaluated
        stored += result.stored
        after = refs[-1].id
    return Evaluation(evaluated, stored)


async def rescore_all(
    session: AsyncSession, workspace_ids: Sequence[uuid.UUID], now: datetime
) -> Evaluation:
    evaluated = stored = 0
    for workspace_id in workspace_ids:
        result = await rescore_workspace(session, workspace_id, now)
        evaluated += result.evaluated
        stored += result.stored
    return Evaluation(evaluated, stored)
