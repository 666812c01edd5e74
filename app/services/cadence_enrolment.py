"""Who is in which cadence: one enrolment by hand or by a trigger (`enroll`), and the
automatic enrolments kept in line with each cadence's tier or condition (`sync_enrolments`),
run when a cadence is written, when clients' tiers change and by every hourly tick.

A rhythm's clock starts from the client's last qualifying touchpoint (see
app.domain.cadences.start), so enrolling reads it: from the client row when every channel
qualifies, from the touchpoint events of the qualifying channels otherwise."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Cadence, CadenceEnrollment, Client
from app.db.repositories.cadence_clock import CadenceClockRepository, Candidate
from app.db.repositories.cadences import CadenceRepository, EnrollmentRepository
from app.db.repositories.clients import ClientRepository
from app.db.repositories.conditions import ConditionQuery
from app.domain import cadences as rules
from app.domain.cadences import CadenceDefinition, EnrollmentSource, EnrollmentStatus, ExitReason
from app.domain.conditions import parse_condition
from app.errors import Conflict, NotFound

EVER = datetime(1900, 1, 1, tzinfo=UTC)
CONDITION_PAGE = 5000


DOCUMENT_KEYS = (
    "name",
    "kind",
    "tier",
    "condition",
    "interval_days",
    "channels",
    "steps",
    "exit",
    "enabled",
)
_COLUMN_OF = {"exit": "exit_rules"}
"""Where a `Cadence` column is named otherwise than its key in the definition's document."""


def definition_of(cadence: Cadence) -> CadenceDefinition:
    return rules.definition_from_document(document_of(cadence))


def document_of(cadence: Cadence) -> dict[str, Any]:
    """The stored cadence in the API's document shape."""
    return {key: getattr(cadence, _COLUMN_OF.get(key, key)) for key in DOCUMENT_KEYS}


def cadence_columns(definition: CadenceDefinition) -> dict[str, Any]:
    """The `Cadence` columns a definition fills (the inverse of `document_of`): one mapping
    for a cadence written through the API and a default one made with its workspace."""
    document = rules.cadence_document(definition)
    return {_COLUMN_OF.get(key, key): document[key] for key in DOCUMENT_KEYS}


def every_channel(definition: CadenceDefinition) -> bool:
    return set(definition.channels) == set(rules.CHANNELS)


async def qualifying_touchpoints(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    definition: CadenceDefinition,
    last_any: dict[uuid.UUID, datetime | None],
) -> dict[uuid.UUID, datetime | None]:
    """Each client's last touchpoint on the cadence's channels; `last_any` is the client
    rows' last touchpoint on any channel, which is the answer when every channel counts."""
    if every_channel(definition) or not last_any:
        return last_any
    latest = await CadenceClockRepository(session).touchpoints(workspace_id, list(last_any), EVER)
    return {c: rules.last_qualifying(latest.get(c, {}), definition.channels) for c in last_any}


def new_row(
    cadence: Cadence,
    definition: CadenceDefinition,
    client_id: uuid.UUID,
    source: EnrollmentSource,
    touched: datetime | None,
    now: datetime,
) -> dict[str, Any]:
    clock = rules.start(definition.kind, definition.steps, now, touched)
    return {
        "id": uuid.uuid4(),
        "workspace_id": cadence.workspace_id,
        "cadence_id": cadence.id,
        "client_id": client_id,
        "status": EnrollmentStatus.ACTIVE.value,
        "source": source.value,
        "enrolled_at": now,
        "anchor_at": clock.anchor_at,
        "next_step": clock.next_step,
        "next_due_at": clock.next_due_at,
        "paused_at": None,
        "last_step": None,
        "last_step_at": None,
        "ended_at": None,
        "exit_reason": None,
        "created_at": now,
        "updated_at": now,
    }


async def enroll_once(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    cadence_id: uuid.UUID,
    client_id: uuid.UUID,
    now: datetime,
    source: EnrollmentSource,
) -> tuple[CadenceEnrollment, bool]:
    """Puts the client in the cadence (a trigger's action); idempotent: an active enrolment
    is returned as is. Returns the enrolment and whether it is new."""
    cadence = await CadenceRepository(session).get(workspace_id, cadence_id)
    if cadence is None:
        raise NotFound("cadence not found")
    check_enabled(cadence)
    client = await ClientRepository(session).get(workspace_id, client_id)
    if client is None:
        raise NotFound("client not found")
    return await place(session, cadence, client, now, source)


def check_enabled(cadence: Cadence) -> None:
    if not cadence.enabled:
        raise Conflict("the cadence is disabled; enable it to enrol clients")


async def place(
    session: AsyncSession, cadence: Cadence, client: Client, now: datetime, source: EnrollmentSource
) -> tuple[CadenceEnrollment, bool]:
    """`enroll_once` for a cadence and a client the caller has loaded and checked."""
    enrollments = EnrollmentRepository(session)
    existing = await enrollments.active(cadence.workspace_id, cadence.id, client.id)
    if existing is not None:
        return existing, False
    definition = definition_of(cadence)
    touched = await qualifying_touchpoints(
        session, cadence.workspace_id, definition, {client.id: client.last_touchpoint_at}
    )
    made = await enrollments.insert_one(
        new_row(cadence, definition, client.id, source, touched[client.id], now)
    )
    if made is not None:
        return made, True
    raced = await enrollments.active(cadence.workspace_id, cadence.id, client.id)
    if raced is None:  # pragma: no cover - the conflicting row ended in the same instant
        raise Conflict("the client's enrolment changed meanwhile; try again")
    return raced, False


@dataclass(frozen=True)
class Synced:
    """`deferred`: more clients to enrol than `at_most` allowed, so none were; the caller
    leaves them to a tick (a request must stay short)."""

    enrolled: int
    ended: int
    deferred: bool = False


async def sync_enrolments(
    session: AsyncSession,
    now: datetime,
    *,
    workspace_ids: Sequence[uuid.UUID] | None = None,
    cadences: Sequence[Cadence] | None = None,
    client_ids: Sequence[uuid.UUID] | None = None,
    at_most: int | None = None,
) -> Synced:
    """Automatic enrolments as each live cadence's rule says: active clients of its tier (and
    its condition, when it has one) are enrolled, and enrolments it made end once the client
    churned or no longer matches (`client_inactive`, `tier_changed`, `condition_unmet`).
    `cadences` narrows the work to some cadences, `client_ids` to some clients (of one
    workspace); by default every live cadence of `workspace_ids` (None: of every workspace).
    With `at_most`, more clients to enrol than that enrols none (`deferred`)."""
    await session.flush()  # edits of this transaction (a client's new tier) are what counts
    if cadences is None:
        cadences = await CadenceRepository(session).enabled(workspace_ids)
    live = [c for c in cadences if c.enabled]
    if not live:
        return Synced(enrolled=0, ended=0)
    definitions = {c.id: definition_of(c) for c in live}
    clock = CadenceClockRepository(session)
    ended = await clock.end_off_tier(
        [
            c.id
            for c in live
            if definitions[c.id].tier is not None or not definitions[c.id].automatic
        ],
        now,
        client_ids=client_ids,
    )
    by_tier = [c for c in live if definitions[c.id].tier and definitions[c.id].condition is None]
    candidates = await clock.tier_candidates(
        [c.id for c in by_tier], client_ids=client_ids, limit=at_most
    )
    for cadence in live:
        if definitions[cadence.id].condition is not None:
            found, off = await _condition_sync(
                session, cadence, definitions[cadence.id], now, client_ids
            )
            candidates += found
            ended += off
    if at_most is not None and len(candidates) > at_most:
        return Synced(enrolled=0, ended=ended, deferred=True)
    enrolled = await _enrol(session, {c.id: c for c in live}, definitions, candidates, now)
    return Synced(enrolled=enrolled, ended=ended)


async def _condition_sync(
    session: AsyncSession,
    cadence: Cadence,
    definition: CadenceDefinition,
    now: datetime,
    client_ids: Sequence[uuid.UUID] | None,
) -> tuple[list[Candidate], int]:
    """A condition cadence's missing clients, after ending the automatic enrolments whose
    client no longer matches."""
    clock = CadenceClockRepository(session)
    condition = parse_condition(definition.condition)
    query = ConditionQuery(session)
    matching: list[uuid.UUID] = []
    if client_ids is not None:
        matching = await query.matching_client_ids(
            cadence.workspace_id, condition, now, among=client_ids
        )
    else:
        after: uuid.UUID | None = None
        while True:
            page = await query.matching_client_ids(
                cadence.workspace_id, condition, now, after=after, limit=CONDITION_PAGE
            )
            matching += page
            if len(page) < CONDITION_PAGE:
                break
            after = page[-1]
    eligible = await clock.active_clients(cadence.workspace_id, matching, definition.tier)
    automatic = (EnrollmentSource.TIER, EnrollmentSource.CONDITION)
    made = await clock.held(cadence.id, sources=automatic, client_ids=client_ids)
    unmet = [e for client, e in made.items() if client not in eligible]
    ended = await EnrollmentRepository(session).end(unmet, ExitReason.CONDITION_UNMET.value, now)
    held = await clock.held(cadence.id, client_ids=list(eligible))
    found = [
        Candidate(cadence.id, cadence.workspace_id, client, touched)
        for client, touched in eligible.items()
        if client not in held
    ]
    return found, len(ended)


async def _enrol(
    session: AsyncSession,
    cadences: dict[uuid.UUID, Cadence],
    definitions: dict[uuid.UUID, CadenceDefinition],
    candidates: Sequence[Candidate],
    now: datetime,
) -> int:
    rows: list[dict[str, Any]] = []
    by_cadence: dict[uuid.UUID, list[Candidate]] = {}
    for candidate in candidates:
        by_cadence.setdefault(candidate.cadence_id, []).append(candidate)
    for cadence_id, found in by_cadence.items():
        cadence, definition = cadences[cadence_id], definitions[cadence_id]
        touched = await qualifying_touchpoints(
            session,
            cadence.workspace_id,
            definition,
            {c.client_id: c.last_touchpoint_at for c in found},
        )
        source = definition.automatic_source
        rows += [
            new_row(cadence, definition, c.client_id, source, touched[c.client_id], now)
            for c in found
        ]
    return len(await EnrollmentRepository(session).insert(rows))


async def follow_clients(
    session: AsyncSession, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID], now: datetime
) -> Synced:
    """Clients whose tier (or anything a cadence's condition reads) changed: enrolled in the
    cadences they now match, out of those they left."""
    if not client_ids:
        return Synced(enrolled=0, ended=0)
    return await sync_enrolments(session, now, workspace_ids=[workspace_id], client_ids=client_ids)
