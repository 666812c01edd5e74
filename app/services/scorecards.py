"""Scorecards: versioned definitions, which one scores which client, the default for B2B.

Precedence, one scorecard per client: the live scorecard whose `tiers` lists the client's
tier; otherwise the workspace's one all-clients scorecard (empty `tiers`). Writes keep this
unambiguous: a tier is claimed by at most one scorecard, and there is exactly one all-clients
scorecard, which can be edited but not deleted.
"""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Scorecard, ScorecardVersion
from app.db.repositories.paging import Page
from app.db.repositories.scorecards import ScorecardRepository
from app.db.repositories.workspaces import WorkspaceRepository
from app.domain import scorecards as rules
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.domain.events import Problem
from app.domain.scorecard_documents import from_document, to_document
from app.errors import Conflict, InvalidInput, NotFound
from app.services.outbox import request_job

DEFINITION_FIELDS = ("measures", "bands", "min_delta")
RESCORE_JOB = "health.rescore_portfolio"
"""Written for the workspace after a scorecard changes, so its clients are rescored now."""


@dataclass(frozen=True)
class ScorecardView:
    scorecard: Scorecard
    version: ScorecardVersion


@dataclass(frozen=True)
class LiveScorecard:
    """A scorecard's current version, ready to score with."""

    id: uuid.UUID
    version: int
    tiers: tuple[str, ...]
    card: rules.Scorecard

    @property
    def key(self) -> tuple[str, int]:
        return (str(self.id), self.version)


@dataclass(frozen=True)
class Assignment:
    """Which live scorecard scores each tier, by the documented precedence."""

    cards: tuple[LiveScorecard, ...]

    def for_tier(self, tier: str | None) -> LiveScorecard | None:
        fallback = None
        for card in self.cards:
            if tier is not None and tier in card.tiers:
                return card
            if not card.tiers and fallback is None:
                fallback = card
        return fallback

    def by_id(self, scorecard_id: uuid.UUID) -> LiveScorecard | None:
        return next((c for c in self.cards if c.id == scorecard_id), None)


def live(scorecard: Scorecard, version: ScorecardVersion) -> LiveScorecard:
    return LiveScorecard(
        id=scorecard.id,
        version=version.version,
        tiers=tuple(scorecard.tiers),
        card=from_document(scorecard.name, version.definition),
    )


async def add_default(session: AsyncSession, workspace_id: uuid.UUID, now: datetime) -> None:
    """A new workspace starts with the default B2B scorecard, so reads never have to make it."""
    repo = ScorecardRepository(session)
    scorecard = Scorecard(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        name=rules.DEFAULT_SCORECARD.name,
        tiers=[],
        current_version=1,
        created_at=now,
        updated_at=now,
    )
    version = ScorecardVersion(
        scorecard_id=scorecard.id,
        version=1,
        workspace_id=workspace_id,
        definition=to_document(rules.DEFAULT_SCORECARD),
        created_at=now,
    )
    await repo.add(scorecard, version)


async def assignment(session: AsyncSession, workspace_id: uuid.UUID) -> Assignment:
    pairs = await ScorecardRepository(session).active(workspace_id)
    return Assignment(tuple(live(s, v) for s, v in pairs))


def check_definition(name: str, definition: dict[str, Any]) -> rules.Scorecard:
    """The domain's checks, as a 422 listing every problem with its place in the body."""
    card = from_document(name, definition)
    problems = rules.validate_scorecard(card) + rules.validate_sources(card)
    if problems:
        raise InvalidInput("the scorecard is not valid", errors=[_error(p) for p in problems])
    return card


def _error(problem: Problem) -> dict[str, Any]:
    loc: list[str | int] = ["body"]
    for part in problem.field.replace("]", "").split("."):
        name, _, index = part.partition("[")
        loc.append(name)
        if index:
            loc.append(int(index))
    return {"loc": loc, "msg": problem.message, "type": "value_error"}


async def _check_tiers(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    tiers: Sequence[str],
    scorecard_id: uuid.UUID | None,
) -> None:
    workspace = await WorkspaceRepository(session).get(workspace_id)
    if workspace is None:
        raise NotFound("workspace not found")
    unknown = [t for t in tiers if t not in workspace.tiers]
    if unknown:
        raise InvalidInput(
            f"not tiers of this workspace: {', '.join(unknown)}",
            errors=[{"loc": ["body", "tiers"], "msg": "unknown tier", "type": "reference"}],
        )
    for other, _ in await ScorecardRepository(session).active(workspace_id):
        if other.id == scorecard_id:
            continue
        if not tiers and not other.tiers:
            raise Conflict(f"scorecard {other.name!r} already applies to all clients")
        if taken := sorted(set(tiers) & set(other.tiers)):
            raise Conflict(f"scorecard {other.name!r} already applies to {', '.join(taken)}")


async def _rescore_soon(session: AsyncSession, workspace_id: uuid.UUID, now: datetime) -> None:
    await request_job(session, RESCORE_JOB, workspace_id=workspace_id, now=now)


async def create_scorecard(
    session: AsyncSession, principal: Principal, data: dict[str, Any], now: datetime
) -> ScorecardView:
    workspace_id = principal.workspace_id
    definition = {k: data[k] for k in DEFINITION_FIELDS if k in data}
    definition.setdefault("min_delta", rules.DEFAULT_MIN_DELTA)
    card = check_definition(data["name"], definition)
    tiers = list(data.get("tiers") or [])
    await _check_tiers(session, workspace_id, tiers, None)
    scorecard = Scorecard(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        name=data["name"],
        tiers=tiers,
        current_version=1,
        created_at=now,
        updated_at=now,
    )
    version = ScorecardVersion(
        scorecard_id=scorecard.id,
        version=1,
        workspace_id=workspace_id,
        definition=to_document(card),
        created_at=now,
    )
    await ScorecardRepository(session).add(scorecard, version)
    await _rescore_soon(session, workspace_id, now)
    await session.flush()
    return ScorecardView(scorecard, version)


async def update_scorecard(
    session: AsyncSession,
    principal: Principal,
    scorecard_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None,
    now: datetime,
) -> ScorecardView:
    """Every edit makes a new version; scores stored earlier keep naming theirs."""
    repo = ScorecardRepository(session)
    scorecard, current = await _load(session, principal.workspace_id, scorecard_id, lock=True)
    check_if_match(if_match, etag(scorecard.id, scorecard.current_version))
    name = changes.get("name", scorecard.name)
    definition = {
        **current.definition,
        **{k: changes[k] for k in DEFINITION_FIELDS if k in changes},
    }
    card = check_definition(name, definition)
    if "tiers" in changes:
        tiers = list(changes["tiers"] or [])
        if bool(tiers) != bool(scorecard.tiers):
            raise Conflict(
                "a scorecard cannot switch between all clients and some tiers; create another"
            )
        await _check_tiers(session, principal.workspace_id, tiers, scorecard.id)
        scorecard.tiers = tiers
    scorecard.name = name
    scorecard.current_version += 1
    scorecard.updated_at = now
    version = ScorecardVersion(
        scorecard_id=scorecard.id,
        version=scorecard.current_version,
        workspace_id=principal.workspace_id,
        definition=to_document(card),
        created_at=now,
    )
    await repo.add_version(version)
    await _rescore_soon(session, principal.workspace_id, now)
    await session.flush()
    return ScorecardView(scorecard, version)


async def delete_scorecard(
    session: AsyncSession,
    principal: Principal,
    scorecard_id: uuid.UUID,
    if_match: str | None,
    now: datetime,
) -> None:
    """Archives: stored scores keep their scorecard and version."""
    scorecard, _ = await _load(session, principal.workspace_id, scorecard_id, lock=True)
    check_if_match(if_match, etag(scorecard.id, scorecard.current_version))
    if not scorecard.tiers:
        raise Conflict("the all-clients scorecard cannot be deleted; edit it instead")
    scorecard.archived_at = now
    await _rescore_soon(session, principal.workspace_id, now)
    await session.flush()


async def get_scorecard(
    session: AsyncSession, principal: Principal, scorecard_id: uuid.UUID
) -> ScorecardView:
    scorecard, version = await _load(session, principal.workspace_id, scorecard_id)
    return ScorecardView(scorecard, version)


async def list_scorecards(
    session: AsyncSession,
    principal: Principal,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[ScorecardView]:
    repo = ScorecardRepository(session)
    page = await repo.page(principal.workspace_id, sort=sort, cursor=cursor, limit=limit)
    versions = await repo.current_versions(principal.workspace_id, page.items)
    views = [ScorecardView(s, versions[s.id]) for s in page.items]
    return Page(items=views, next_cursor=page.next_cursor, has_more=page.has_more)


async def list_versions(
    session: AsyncSession, principal: Principal, scorecard_id: uuid.UUID
) -> tuple[Scorecard, list[ScorecardVersion]]:
    scorecard, _ = await _load(session, principal.workspace_id, scorecard_id)
    return scorecard, await ScorecardRepository(session).versions(
        principal.workspace_id, scorecard.id
    )


async def in_force_at(
    session: AsyncSession, workspace_id: uuid.UUID, card: LiveScorecard, at: datetime
) -> LiveScorecard:
    """The scorecard as its version in force at `at` (its first version if it is younger)."""
    version = await ScorecardRepository(session).version_at(workspace_id, card.id, at)
    if version is None or version.version == card.version:
        return card
    return LiveScorecard(
        card.id, version.version, card.tiers, from_document(card.card.name, version.definition)
    )


async def load_live(
    session: AsyncSession, workspace_id: uuid.UUID, scorecard_id: uuid.UUID
) -> LiveScorecard:
    scorecard, version = await _load(session, workspace_id, scorecard_id)
    return live(scorecard, version)


async def _load(
    session: AsyncSession, workspace_id: uuid.UUID, scorecard_id: uuid.UUID, *, lock: bool = False
) -> tuple[Scorecard, ScorecardVersion]:
    repo = ScorecardRepository(session)
    scorecard = await repo.get(workspace_id, scorecard_id, for_update=lock)
    if scorecard is None:
        raise NotFound("scorecard not found")
    version = await repo.version(workspace_id, scorecard.id, scorecard.current_version)
    if version is None:  # pragma: no cover - written together
        raise NotFound("scorecard not found")
    return scorecard, version
