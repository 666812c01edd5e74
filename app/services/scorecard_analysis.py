"""A scorecard against the portfolio: what a draft would change, its past, how it predicted.

Preview and backtest store nothing. Backfill writes `source=backfill` snapshots for past
moments with the current version, by the same rule as live evaluation; a re-run over the same
range replaces its own rows. By default the past is read in the `occurred` view, from every
event stored now that occurred by then (backfill exists to give a new scorecard a history and
a backtest to judge it, so imported and late-recorded events count); `recorded` reads only
what was recorded by each moment, of the clients Tenure knew then. Client fields (tier,
attributes) are today's in both, and MRR comes from the contracts live that day. Clients
count from their acquisition to their churn, by the dates these happened.
"""

import uuid
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories.health import ClientRef, HealthRepository
from app.db.repositories.health_aggregates import AsOf
from app.domain import backtest as rules
from app.domain.api_keys import Principal
from app.domain.health import Knowledge, StoredScore, should_store
from app.domain.scorecard_documents import to_document
from app.errors import InvalidInput, NotFound
from app.services.health import (
    BATCH_SIZE,
    as_of_view,
    score_clients,
    snapshot_row,
    stored_score,
)
from app.services.scorecards import Assignment, LiveScorecard, assignment, check_definition

MAX_LISTED_CHANGES = 100
MAX_BACKFILL_STEPS = 1_000
MAX_BACKFILL_EVALUATIONS = 250_000
"""Moments x clients one backfill request may score; beyond it the request is refused."""


@dataclass(frozen=True)
class BandChange:
    client_id: uuid.UUID
    client_name: str
    current_score: float | None
    current_band: str
    draft_score: float | None
    draft_band: str


@dataclass(frozen=True)
class Preview:
    clients: int
    current: dict[str, int]
    draft: dict[str, int]
    changed_count: int
    changed: list[BandChange]


@dataclass(frozen=True)
class Backfill:
    steps: int
    clients: int
    evaluated: int
    written: int
    knowledge: Knowledge


@dataclass(frozen=True)
class Backtest:
    at: datetime
    horizon_days: int
    clients: int
    churned: int
    bands: list[rules.BandOutcome]
    auc: float | None
    knowledge: Knowledge


async def _target(
    session: AsyncSession, workspace_id: uuid.UUID, scorecard_id: uuid.UUID
) -> tuple[Assignment, LiveScorecard, list[ClientRef]]:
    """The scorecard and the clients it scores by the precedence."""
    cards = await assignment(session, workspace_id)
    card = cards.by_id(scorecard_id)
    if card is None:
        raise NotFound("scorecard not found")
    repo = HealthRepository(session)
    refs: list[ClientRef] = []
    after = None
    while batch := await repo.client_batch(workspace_id, after, BATCH_SIZE):
        refs += [r for r in batch if (c := cards.for_tier(r.tier)) and c.id == card.id]
        after = batch[-1].id
    return cards, card, refs


def _existing(ref: ClientRef, at: datetime, knowledge: Knowledge) -> bool:
    """A client by then: acquired, and in the `recorded` view also known to Tenure."""
    if ref.acquired_at is not None and ref.acquired_at > at:
        return False
    created = ref.created_at
    return knowledge is Knowledge.OCCURRED or created is None or created <= at


def _batches(refs: list[ClientRef]) -> Iterable[list[ClientRef]]:
    for start in range(0, len(refs), BATCH_SIZE):
        yield refs[start : start + BATCH_SIZE]


async def preview(
    session: AsyncSession,
    principal: Principal,
    scorecard_id: uuid.UUID,
    draft: dict[str, Any],
    now: datetime,
) -> Preview:
    workspace_id = principal.workspace_id
    cards, card, refs = await _target(session, workspace_id, scorecard_id)
    draft_card = check_definition(card.card.name, {**to_document(card.card), **draft})
    trial = replace(card, version=card.version + 1, card=draft_card)
    as_of = AsOf(now, known_by=now)
    current_bands: Counter[str] = Counter()
    draft_bands: Counter[str] = Counter()
    changed: list[tuple[uuid.UUID, Any, Any]] = []
    for batch in _batches(refs):
        before = await score_clients(session, workspace_id, batch, cards, as_of, only=card)
        after = await score_clients(session, workspace_id, batch, cards, as_of, only=trial)
        for old, new in zip(before, after, strict=True):
            current_bands[old.health.band] += 1
            draft_bands[new.health.band] += 1
            if old.health.band != new.health.band:
                changed.append((old.client_id, old.health, new.health))
    listed = changed[:MAX_LISTED_CHANGES]
    names = await HealthRepository(session).names(workspace_id, [c for c, _, _ in listed])
    return Preview(
        clients=len(refs),
        current={b.name: current_bands[b.name] for b in card.card.bands} | dict(current_bands),
        draft={b.name: draft_bands[b.name] for b in draft_card.bands} | dict(draft_bands),
        changed_count=len(changed),
        changed=[
            BandChange(c, names.get(c, ""), old.score, old.band, new.score, new.band)
            for c, old, new in listed
        ],
    )


async def backfill(
    session: AsyncSession,
    principal: Principal,
    scorecard_id: uuid.UUID,
    start: datetime,
    end: datetime,
    step_days: int,
    now: datetime,
    knowledge: Knowledge = Knowledge.OCCURRED,
) -> Backfill:
    workspace_id = principal.workspace_id
    if start > end:
        raise _invalid("from", "must not be after to")
    if end > now:
        raise _invalid("to", "must not be in the future")
    step = timedelta(days=step_days)
    steps = (end - start) // step + 1
    if steps > MAX_BACKFILL_STEPS:
        raise _invalid(
            "step_days", f"{steps} moments exceed {MAX_BACKFILL_STEPS}; use a longer step"
        )
    moments = [start + i * step for i in range(steps)]
    cards, card, refs = await _target(session, workspace_id, scorecard_id)
    max_evaluations = MAX_BACKFILL_EVALUATIONS
    if len(moments) * len(refs) > max_evaluations:
        raise _invalid(
            "step_days",
            f"{len(moments)} moments x {len(refs)} clients exceeds {max_evaluations} "
            "evaluations; use a shorter range or a longer step",
        )
    repo = HealthRepository(session)
    await repo.delete_backfill(workspace_id, card.id, start, end)
    evaluated = written = 0
    for batch in _batches(refs):
        before = await repo.before(workspace_id, [r.id for r in batch], start)
        previous: dict[uuid.UUID, StoredScore] = {c: stored_score(r) for c, r in before.items()}
        rows = []
        for at in moments:
            existing = [r for r in batch if _existing(r, at, knowledge)]
            as_of = as_of_view(at, knowledge)
            scored = await score_clients(
                session, workspace_id, existing, cards, as_of, previous, only=card
            )
            evaluated += len(scored)
            for s in scored:
                if should_store(
                    previous.get(s.client_id),
                    s.health.score,
                    s.health.band,
                    card.card.min_delta,
                    card.key,
                ):
                    row = snapshot_row(workspace_id, s, at, "backfill", now)
                    rows.append(row)
                    previous[s.client_id] = StoredScore(
                        s.health.score,
                        s.health.band,
                        card.key,
                        {m.key: m.contribution for m in s.health.measures},
                    )
        await repo.insert_history(rows)
        written += len(rows)
    await repo.relabel_latest(workspace_id)
    await session.flush()
    return Backfill(len(moments), len(refs), evaluated, written, knowledge)


async def backtest(
    session: AsyncSession,
    principal: Principal,
    scorecard_id: uuid.UUID,
    at: datetime | None,
    horizon_days: int,
    now: datetime,
    knowledge: Knowledge = Knowledge.OCCURRED,
) -> Backtest:
    """Scores as of `at` against who churned (by the churn's own date) within the following
    `horizon_days`."""
    workspace_id = principal.workspace_id
    horizon = timedelta(days=horizon_days)
    at = at or now - horizon
    if at > now:
        raise _invalid("at", "must not be in the future", where="query")
    cards, card, refs = await _target(session, workspace_id, scorecard_id)
    alive = [
        r
        for r in refs
        if _existing(r, at, knowledge) and (r.churned_at is None or r.churned_at > at)
    ]
    as_of = as_of_view(at, knowledge)
    churned_at = {r.id: r.churned_at for r in alive}
    outcomes = []
    for batch in _batches(alive):
        for s in await score_clients(session, workspace_id, batch, cards, as_of, only=card):
            if s.health.score is None:
                continue
            ended = churned_at[s.client_id]
            outcomes.append(
                rules.Outcome(
                    s.health.score, s.health.band, ended is not None and ended <= at + horizon
                )
            )
    return Backtest(
        at=at,
        horizon_days=horizon_days,
        clients=len(outcomes),
        churned=sum(1 for o in outcomes if o.churned),
        bands=rules.by_band(outcomes, [b.name for b in card.card.bands]),
        auc=rules.roc_auc(outcomes),
        knowledge=knowledge,
    )


def _invalid(field: str, message: str, where: str = "body") -> InvalidInput:
    return InvalidInput(
        f"{field} {message}",
        errors=[{"loc": [where, field], "msg": message, "type": "value_error"}],
    )
