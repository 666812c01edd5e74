"""Action runs: written in bulk when a trigger run or a cadence step schedules them, read and
settled one at a time by the job that runs each."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ActionRun, Cadence, CadenceEnrollment, Trigger, TriggerRun
from app.domain.actions import ActionStatus

_ACTION_RUNS = ActionRun.metadata.tables[ActionRun.__tablename__]


@dataclass(frozen=True)
class DueAction:
    """An action run with what its context needs."""

    run: ActionRun
    trigger_id: uuid.UUID | None
    source_live: bool
    """False once its trigger or cadence is disabled or deleted, or its enrolment ended: its
    pending actions are skipped."""


class ActionRunRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def insert(self, rows: Sequence[dict[str, Any]]) -> None:
        """Plain rows (every column of `action_runs`), one executemany."""
        if rows:
            await self.session.execute(sa.insert(_ACTION_RUNS), list(rows))

    async def get(self, workspace_id: uuid.UUID, action_run_id: uuid.UUID) -> DueAction | None:
        """Locked on PostgreSQL, so two deliveries of one row never both act."""
        trigger_live = sa.and_(Trigger.enabled.is_(True), Trigger.archived_at.is_(None))
        cadence_live = sa.and_(
            Cadence.enabled.is_(True),
            sa.or_(
                ActionRun.cadence_enrollment_id.is_(None),
                CadenceEnrollment.status == "active",
            ),
        )
        stmt = (
            sa.select(ActionRun, TriggerRun.trigger_id, trigger_live, cadence_live)
            .outerjoin(TriggerRun, TriggerRun.id == ActionRun.trigger_run_id)
            .outerjoin(Trigger, Trigger.id == TriggerRun.trigger_id)
            .outerjoin(Cadence, Cadence.id == ActionRun.cadence_id)
            .outerjoin(CadenceEnrollment, CadenceEnrollment.id == ActionRun.cadence_enrollment_id)
            .where(ActionRun.workspace_id == workspace_id, ActionRun.id == action_run_id)
        )
        if self.session.get_bind().dialect.name == "postgresql":
            stmt = stmt.with_for_update(of=ActionRun)
        row = (await self.session.execute(stmt)).one_or_none()
        if row is None:
            return None
        action, trigger_id, trigger_on, cadence_on = row
        live = (trigger_id is None or bool(trigger_on)) and (
            action.cadence_id is None or bool(cadence_on)
        )
        return DueAction(action, trigger_id, live)

    async def settle(
        self,
        action_run_id: uuid.UUID,
        *,
        status: ActionStatus,
        attempts: int,
        now: datetime,
        result: dict[str, Any] | None = None,
        error: str | None = None,
    ) -> None:
        finished = status is not ActionStatus.PENDING
        await self.session.execute(
            sa.update(_ACTION_RUNS)
            .where(_ACTION_RUNS.c.id == action_run_id)
            .values(
                status=status.value,
                attempts=attempts,
                result=result,
                error=error,
                updated_at=now,
                finished_at=now if finished else None,
            )
        )

    async def for_trigger_runs(
        self, workspace_id: uuid.UUID, trigger_run_ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, list[ActionRun]]:
        found: dict[uuid.UUID, list[ActionRun]] = {}
        if not trigger_run_ids:
            return found
        stmt = (
            sa.select(ActionRun)
            .where(
                ActionRun.workspace_id == workspace_id,
                ActionRun.trigger_run_id.in_(list(trigger_run_ids)),
            )
            .order_by(ActionRun.trigger_run_id, ActionRun.position)
        )
        for action in (await self.session.scalars(stmt)).all():
            assert action.trigger_run_id is not None
            found.setdefault(action.trigger_run_id, []).append(action)
        return found
