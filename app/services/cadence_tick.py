"""The cadence tick: automatic enrolments brought in line, then every enrolment whose step
fell due (or whose clock stands paused) moved on by the domain's clock, in batches.

Each batch costs a constant number of statements whatever its size: the enrolments (locked on
PostgreSQL, skipping any another tick holds), the qualifying touchpoints per client and
channel, the replies, the open cadence tasks, one goal query per sequence with a goal, one
executemany of the new clocks, and the steps' actions scheduled through the action registry
(`schedule_many`, one call per cadence step that fired). A touchpoint logged since the last
tick resets its clock before the step can fall due, since the tick reads the events."""

import uuid
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories.cadence_clock import CadenceClockRepository, DueEnrollment, chunks
from app.db.repositories.cadences import CadenceRepository
from app.db.repositories.conditions import ConditionQuery
from app.domain import cadences as rules
from app.domain.cadences import (
    CadenceDefinition,
    CadenceKind,
    Clock,
    Decision,
    EnrollmentStatus,
    ExitRules,
    Observed,
)
from app.domain.conditions import parse_condition
from app.services.actions import ActionTarget, schedule_many
from app.services.cadence_enrolment import definition_of, sync_enrolments

BATCH = 500


@dataclass
class TickResult:
    enrolled: int = 0
    ended: int = 0
    evaluated: int = 0
    fired: int = 0
    reset: int = 0
    paused: int = 0
    exited: dict[str, int] = field(default_factory=dict)

    def document(self) -> dict[str, Any]:
        return asdict(self)


async def run_tick(
    session: AsyncSession, now: datetime, workspace_ids: Sequence[uuid.UUID] | None = None
) -> TickResult:
    """One tick over some workspaces (None: every workspace). Flushes only."""
    result = TickResult()
    cadences = await CadenceRepository(session).enabled(workspace_ids)
    synced = await sync_enrolments(session, now, cadences=cadences)
    result.enrolled, result.ended = synced.enrolled, synced.ended
    live = {c.id: definition_of(c) for c in cadences}
    clock = CadenceClockRepository(session)
    due = await clock.due(workspace_ids, now)
    by_workspace: dict[uuid.UUID, list[uuid.UUID]] = {}
    for workspace_id, enrollment_id in due:
        by_workspace.setdefault(workspace_id, []).append(enrollment_id)
    for workspace_id, ids in by_workspace.items():
        for batch in chunks(ids, BATCH):
            await _batch(session, workspace_id, batch, live, now, result)
    return result


async def _batch(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    ids: Sequence[uuid.UUID],
    live: dict[uuid.UUID, CadenceDefinition],
    now: datetime,
    result: TickResult,
) -> None:
    clock = CadenceClockRepository(session)
    rows = [r for r in await clock.load(workspace_id, ids) if r.cadence_id in live]
    if not rows:
        return
    observed = await _observe(session, workspace_id, rows, live, now)
    saves: list[dict[str, Any]] = []
    firings: dict[tuple[uuid.UUID, int], list[ActionTarget]] = {}
    for row in rows:
        definition = live[row.cadence_id]
        stored = Clock(row.anchor_at, row.next_step, row.next_due_at or now, row.paused_at)
        decision = rules.advance(definition, row.enrolled_at, stored, observed[row.id], now)
        result.evaluated += 1
        result.reset += decision.reset
        result.paused += decision.clock.paused and not stored.paused
        if decision.exit is not None:
            reason = decision.exit.value
            result.exited[reason] = result.exited.get(reason, 0) + 1
        if decision.fire is not None:
            result.fired += 1
            target = ActionTarget(row.client_id, cadence_enrollment_id=row.id)
            firings.setdefault((row.cadence_id, decision.fire), []).append(target)
        if decision.clock != stored or decision.fire is not None or decision.exit is not None:
            saves.append(_saved(row, decision, now))
    await clock.save(saves)
    for (cadence_id, step), targets in firings.items():
        action = live[cadence_id].steps[step].action
        await schedule_many(
            session, workspace_id, targets, [action], now, cadence_id=cadence_id, cadence_step=step
        )


async def _observe(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    rows: Sequence[DueEnrollment],
    live: dict[uuid.UUID, CadenceDefinition],
    now: datetime,
) -> dict[uuid.UUID, Observed]:
    """What each enrolment's clock needs, read for the whole batch at once."""
    clock = CadenceClockRepository(session)
    clients = sorted({r.client_id for r in rows})
    since = min(min(r.anchor_at, r.enrolled_at) for r in rows)
    touchpoints = await clock.touchpoints(workspace_id, clients, since)
    sequences = [r for r in rows if live[r.cadence_id].kind is CadenceKind.SEQUENCE]
    replies = (
        await clock.replies(workspace_id, sorted({r.client_id for r in sequences}), since)
        if sequences
        else {}
    )
    open_tasks = await clock.open_tasks(workspace_id, sorted({r.cadence_id for r in rows}), clients)
    goals: dict[uuid.UUID, set[uuid.UUID]] = {}
    query = ConditionQuery(session)
    for cadence_id in sorted({r.cadence_id for r in sequences}):
        exits = live[cadence_id].exits or ExitRules()
        if exits.goal is None:
            continue
        among = sorted({r.client_id for r in sequences if r.cadence_id == cadence_id})
        goals[cadence_id] = set(
            await query.matching_client_ids(
                workspace_id, parse_condition(exits.goal), now, among=among
            )
        )
    return {
        r.id: Observed(
            last_touchpoint_at=rules.last_qualifying(
                touchpoints.get(r.client_id, {}), live[r.cadence_id].channels
            ),
            last_reply_at=replies.get(r.client_id),
            goal_met=r.client_id in goals.get(r.cadence_id, set()),
            open_task=(r.cadence_id, r.client_id) in open_tasks,
        )
        for r in rows
    }


def _saved(row: DueEnrollment, decision: Decision, now: datetime) -> dict[str, Any]:
    ended = decision.exit is not None
    fired = decision.fire is not None
    return {
        "id": row.id,
        "status": (EnrollmentStatus.ENDED if ended else EnrollmentStatus.ACTIVE).value,
        "anchor_at": decision.clock.anchor_at,
        "next_step": decision.clock.next_step,
        "next_due_at": None if ended else decision.clock.next_due_at,
        "paused_at": None if ended else decision.clock.paused_at,
        "last_step": decision.fire if fired else row.last_step,
        "last_step_at": now if fired else row.last_step_at,
        "ended_at": now if ended else None,
        "exit_reason": decision.exit.value if decision.exit is not None else None,
        "updated_at": now,
    }
