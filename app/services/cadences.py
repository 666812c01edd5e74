"""Cadences: definitions (validated against the workspace's tiers and the action registry,
every problem in one 422), enrolments by hand, and where a client stands.

Writing a cadence brings its automatic enrolments in line at once (app.services.
cadence_enrolment), or, past `ENROL_IN_REQUEST` clients, through a tick of the workspace it
requests; disabling one ends its enrolments (`cadence_disabled`), enabling it again enrols its
tier anew. An edit applies to enrolments from their next step on."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Cadence, CadenceEnrollment
from app.db.repositories.cadence_clock import CadenceClockRepository
from app.db.repositories.cadences import CadenceRepository, EnrollmentRepository
from app.db.repositories.clients import ClientRepository
from app.db.repositories.paging import Page
from app.domain import cadences as rules
from app.domain.api_keys import Principal
from app.domain.cadences import (
    CadenceDefinition,
    CadenceKind,
    Clock,
    EnrollmentSource,
    EnrollmentStatus,
    ExitReason,
    Observed,
)
from app.domain.concurrency import check_if_match, etag
from app.errors import Conflict, InvalidInput, NotFound
from app.services.actions import action_kinds
from app.services.cadence_enrolment import (
    DOCUMENT_KEYS,
    EVER,
    cadence_columns,
    check_enabled,
    definition_of,
    document_of,
    place,
    sync_enrolments,
)
from app.services.outbox import request_job
from app.services.workspaces import get_workspace

EDITABLE = tuple(key for key in DOCUMENT_KEYS if key != "kind")
ENROL_IN_REQUEST = 2000
"""A write enrols up to this many clients itself; beyond, it asks for a tick of the workspace
(about 15 s per 100,000 clients on PostgreSQL), which enrols them within seconds."""
TICK_JOB = "cadences.tick"


async def check_definition(
    session: AsyncSession, workspace_id: uuid.UUID, document: dict[str, Any]
) -> CadenceDefinition:
    """The definition, or a 422 listing every problem at its place in the body."""
    definition = rules.definition_from_document(document)
    kinds = action_kinds()
    problems: list[dict[str, Any]] = [
        {"loc": ["body", *p.loc], "msg": p.message, "type": "value_error"}
        for p in rules.definition_problems(definition, sorted(kinds))
    ]
    for i, step in enumerate(definition.steps):
        kind = kinds.get(step.action.kind)
        for message in kind.problems(step.action.params) if kind is not None else []:
            loc = ["body", "steps", i, "action", "params"]
            problems.append({"loc": loc, "msg": message, "type": "value_error"})
    if definition.tier is not None:
        workspace = await get_workspace(session, workspace_id)
        if definition.tier not in workspace.tiers:
            message = f"not a tier of this workspace ({', '.join(workspace.tiers)})"
            problems.append({"loc": ["body", "tier"], "msg": message, "type": "reference"})
    if problems:
        raise InvalidInput("the cadence is not valid", errors=problems)
    return definition


def _store(cadence: Cadence, definition: CadenceDefinition) -> None:
    for column, value in cadence_columns(definition).items():
        setattr(cadence, column, value)


async def create_cadence(
    session: AsyncSession, principal: Principal, data: dict[str, Any], now: datetime
) -> Cadence:
    definition = await check_definition(session, principal.workspace_id, data)
    cadence = Cadence(id=uuid.uuid4(), workspace_id=principal.workspace_id, version=1)
    _store(cadence, definition)
    cadence.created_at = cadence.updated_at = now
    await CadenceRepository(session).add(cadence)
    if definition.automatic and definition.enabled:
        await _follow(session, cadence, now)
    await session.flush()
    return cadence


async def _follow(session: AsyncSession, cadence: Cadence, now: datetime) -> None:
    synced = await sync_enrolments(session, now, cadences=[cadence], at_most=ENROL_IN_REQUEST)
    if synced.deferred:
        await request_job(session, TICK_JOB, workspace_id=cadence.workspace_id, now=now)


async def get_cadence(
    session: AsyncSession, principal: Principal, cadence_id: uuid.UUID, *, lock: bool = False
) -> Cadence:
    cadence = await CadenceRepository(session).get(
        principal.workspace_id, cadence_id, for_update=lock
    )
    if cadence is None:
        raise NotFound("cadence not found")
    return cadence


async def list_cadences(
    session: AsyncSession,
    principal: Principal,
    *,
    kind: str | None,
    tier: str | None,
    enabled: bool | None,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[Cadence]:
    return await CadenceRepository(session).page(
        principal.workspace_id,
        kind=kind,
        tier=tier,
        enabled=enabled,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )


async def update_cadence(
    session: AsyncSession,
    principal: Principal,
    cadence_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None,
    now: datetime,
) -> Cadence:
    """Any edit moves the version; the kind is fixed (make another cadence instead)."""
    cadence = await get_cadence(session, principal, cadence_id, lock=True)
    check_if_match(if_match, etag(cadence.id, cadence.version))
    was_enabled = cadence.enabled
    document = {**document_of(cadence), **{k: v for k, v in changes.items() if k in EDITABLE}}
    if "interval_days" in changes and "steps" not in changes and _usual_steps(cadence):
        document["steps"] = None  # the usual step follows the interval
    definition = await check_definition(session, principal.workspace_id, document)
    _store(cadence, definition)
    cadence.updated_at = now
    await session.flush()
    if was_enabled and not definition.enabled:
        await EnrollmentRepository(session).end_all(
            cadence.workspace_id, cadence.id, ExitReason.CADENCE_DISABLED.value, now
        )
    elif definition.enabled:
        await _follow(session, cadence, now)
    await session.flush()
    return cadence


def _usual_steps(cadence: Cadence) -> bool:
    if cadence.kind != CadenceKind.RHYTHM.value or cadence.interval_days is None:
        return False
    usual = rules.step_document(rules.touch_base_step(cadence.interval_days))
    return cadence.steps == [usual]


async def delete_cadence(
    session: AsyncSession, principal: Principal, cadence_id: uuid.UUID, if_match: str | None
) -> None:
    """Deletes the cadence and its enrolments; tasks and action runs it made keep its id."""
    cadence = await get_cadence(session, principal, cadence_id, lock=True)
    check_if_match(if_match, etag(cadence.id, cadence.version))
    await CadenceRepository(session).delete(cadence)


# --- enrolments --------------------------------------------------------------------------


async def enroll_client(
    session: AsyncSession,
    principal: Principal,
    cadence_id: uuid.UUID,
    client_id: uuid.UUID,
    now: datetime,
) -> tuple[CadenceEnrollment, bool]:
    """By hand; the client's active enrolment when it has one (and False)."""
    cadence = await get_cadence(session, principal, cadence_id)
    client = await ClientRepository(session).get(principal.workspace_id, client_id)
    if client is None:
        raise InvalidInput(
            "client_id does not name a client of this workspace",
            errors=[{"loc": ["body", "client_id"], "msg": "unknown client", "type": "reference"}],
        )
    check_enabled(cadence)
    return await place(session, cadence, client, now, EnrollmentSource.MANUAL)


async def end_enrollment(
    session: AsyncSession,
    principal: Principal,
    cadence_id: uuid.UUID,
    enrollment_id: uuid.UUID,
    now: datetime,
) -> CadenceEnrollment:
    """Ends an active enrolment by hand (`manual`). An automatic cadence enrols the client
    again at its next tick while the client still matches: disable the cadence, or change
    the client, to keep it out."""
    enrollments = EnrollmentRepository(session)
    enrollment = await enrollments.get(principal.workspace_id, cadence_id, enrollment_id)
    if enrollment is None:
        raise NotFound("enrollment not found")
    if enrollment.status != EnrollmentStatus.ACTIVE.value:
        raise Conflict("the enrollment has already ended")
    await enrollments.end([enrollment.id], ExitReason.MANUAL.value, now)
    await session.refresh(enrollment)
    return enrollment


async def list_enrollments(
    session: AsyncSession,
    principal: Principal,
    cadence_id: uuid.UUID,
    *,
    status: str | None,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[CadenceEnrollment]:
    cadence = await get_cadence(session, principal, cadence_id)
    return await EnrollmentRepository(session).page(
        principal.workspace_id,
        cadence.id,
        status=status,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )


# --- where a client stands ---------------------------------------------------------------


@dataclass(frozen=True)
class Standing:
    """One active enrolment as of now: its clock with resets and pauses applied (the tick
    writes the same), the qualifying touchpoint it counts from, and whether a task of the
    cadence is open."""

    enrollment: CadenceEnrollment
    cadence: Cadence
    definition: CadenceDefinition
    clock: Clock
    due_now: bool
    last_touchpoint_at: datetime | None
    open_task: bool


@dataclass(frozen=True)
class ClientCadence:
    client_id: uuid.UUID
    last_touchpoint_at: datetime | None
    next_touch_due_at: datetime | None
    enrollments: list[Standing]


async def client_cadence(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID, now: datetime
) -> ClientCadence:
    """Where a client stands in its cadences: a constant number of statements."""
    workspace_id = principal.workspace_id
    client = await ClientRepository(session).get(workspace_id, client_id)
    if client is None:
        raise NotFound("client not found")
    pairs = await EnrollmentRepository(session).of_client(workspace_id, client.id)
    clock = CadenceClockRepository(session)
    touchpoints = await clock.touchpoints(workspace_id, [client.id], EVER) if pairs else {}
    sequences = any(c.kind == CadenceKind.SEQUENCE.value for _, c in pairs)
    replies = await clock.replies(workspace_id, [client.id], EVER) if sequences else {}
    open_tasks = await clock.open_tasks(workspace_id, [c.id for _, c in pairs], [client.id])
    standings: list[Standing] = []
    for enrollment, cadence in pairs:
        definition = definition_of(cadence)
        touched = rules.last_qualifying(touchpoints.get(client.id, {}), definition.channels)
        observed = Observed(
            last_touchpoint_at=touched,
            last_reply_at=replies.get(client.id),
            open_task=(cadence.id, client.id) in open_tasks,
        )
        stored = Clock(
            enrollment.anchor_at,
            enrollment.next_step,
            enrollment.next_due_at or now,
            enrollment.paused_at,
        )
        settled = rules.settle(definition, enrollment.enrolled_at, stored, observed, now).clock
        standings.append(
            Standing(
                enrollment=enrollment,
                cadence=cadence,
                definition=definition,
                clock=settled,
                due_now=cadence.enabled and not settled.paused and settled.next_due_at <= now,
                last_touchpoint_at=touched,
                open_task=observed.open_task,
            )
        )
    running = [
        s.clock.next_due_at
        for s in standings
        if s.definition.kind is CadenceKind.RHYTHM and not s.clock.paused
    ]
    return ClientCadence(
        client_id=client.id,
        last_touchpoint_at=client.last_touchpoint_at,
        next_touch_due_at=min(running) if running else None,
        enrollments=standings,
    )
