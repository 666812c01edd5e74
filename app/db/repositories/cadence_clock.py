"""What the cadence tick reads and writes, a batch at a time: the enrolments that fell due or
stand paused, the facts their clocks need (qualifying touchpoints per channel, replies, open
cadence tasks), the clocks written back in one executemany, and the automatic enrolments
kept in line with tiers. A constant number of statements per batch, never one per client."""

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Cadence, CadenceEnrollment, Client, Event, Task
from app.db.repositories.cadences import ended_values
from app.domain.cadences import (
    REPLY_EVENT,
    TOUCHPOINT_EVENT,
    EnrollmentSource,
    EnrollmentStatus,
    ExitReason,
)
from app.domain.clients import ClientStatus

CHUNK = 500
OPEN_TASK_STATUSES = ("open", "snoozed")
_ENROLLMENTS = CadenceEnrollment.metadata.tables[CadenceEnrollment.__tablename__]
_SAVE = (
    sa.update(_ENROLLMENTS)
    .where(_ENROLLMENTS.c.id == sa.bindparam("b_id", type_=_ENROLLMENTS.c.id.type))
    .values(
        {
            column: sa.bindparam(f"b_{column}", type_=_ENROLLMENTS.c[column].type)
            for column in (
                "status",
                "anchor_at",
                "next_step",
                "next_due_at",
                "paused_at",
                "last_step",
                "last_step_at",
                "ended_at",
                "exit_reason",
                "updated_at",
            )
        }
    )
)
"""One enrolment's clock after a tick; run for a whole batch as one executemany."""

T = TypeVar("T")


def chunks(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


@dataclass(frozen=True)
class DueEnrollment:
    id: uuid.UUID
    cadence_id: uuid.UUID
    client_id: uuid.UUID
    enrolled_at: datetime
    anchor_at: datetime
    next_step: int
    next_due_at: datetime | None
    paused_at: datetime | None
    last_step: int | None
    last_step_at: datetime | None


@dataclass(frozen=True)
class Candidate:
    """A client an automatic cadence should hold and does not yet."""

    cadence_id: uuid.UUID
    workspace_id: uuid.UUID
    client_id: uuid.UUID
    last_touchpoint_at: datetime | None


class CadenceClockRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    # --- due enrolments --------------------------------------------------------------------

    async def due(
        self, workspace_ids: Sequence[uuid.UUID] | None, now: datetime
    ) -> list[tuple[uuid.UUID, uuid.UUID]]:
        """(workspace, enrolment) of every active enrolment of a live cadence whose step fell
        due or whose clock stands paused, in workspace and id order: ids only, so the batches
        that follow cost one pass."""
        stmt = (
            sa.select(CadenceEnrollment.workspace_id, CadenceEnrollment.id)
            .join(Cadence, Cadence.id == CadenceEnrollment.cadence_id)
            .where(
                CadenceEnrollment.status == EnrollmentStatus.ACTIVE.value,
                Cadence.enabled.is_(True),
                sa.or_(
                    CadenceEnrollment.next_due_at <= now,
                    CadenceEnrollment.paused_at.is_not(None),
                ),
            )
            .order_by(CadenceEnrollment.workspace_id, CadenceEnrollment.id)
        )
        if workspace_ids is not None:
            stmt = stmt.where(CadenceEnrollment.workspace_id.in_(set(workspace_ids)))
        return [(r[0], r[1]) for r in (await self.session.execute(stmt)).all()]

    async def load(self, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]) -> list[DueEnrollment]:
        """The batch's enrolments still active, locked on PostgreSQL (skipping any another
        tick holds), so two ticks never fire one step twice."""
        stmt = (
            sa.select(
                _ENROLLMENTS.c.id,
                _ENROLLMENTS.c.cadence_id,
                _ENROLLMENTS.c.client_id,
                _ENROLLMENTS.c.enrolled_at,
                _ENROLLMENTS.c.anchor_at,
                _ENROLLMENTS.c.next_step,
                _ENROLLMENTS.c.next_due_at,
                _ENROLLMENTS.c.paused_at,
                _ENROLLMENTS.c.last_step,
                _ENROLLMENTS.c.last_step_at,
            )
            .where(
                _ENROLLMENTS.c.workspace_id == workspace_id,
                _ENROLLMENTS.c.id.in_(list(ids)),
                _ENROLLMENTS.c.status == EnrollmentStatus.ACTIVE.value,
            )
            .order_by(_ENROLLMENTS.c.id)
        )
        if self._postgres:
            stmt = stmt.with_for_update(skip_locked=True)
        rows = (await self.session.execute(stmt)).mappings().all()
        return [DueEnrollment(**row) for row in rows]

    async def save(self, clocks: Sequence[dict[str, Any]]) -> None:
        """Each enrolment's clock (keys: the columns of `_SAVE` and `id`), one executemany."""
        if clocks:
            params = [{f"b_{k}": v for k, v in clock.items()} for clock in clocks]
            await self.session.execute(_SAVE, params)

    # --- what the clocks need --------------------------------------------------------------

    async def touchpoints(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID], since: datetime
    ) -> dict[uuid.UUID, dict[str, datetime]]:
        """The latest touchpoint per client and channel after `since`."""
        channel = Event.properties["channel"].as_string()
        latest: dict[uuid.UUID, dict[str, datetime]] = {}
        for chunk in chunks(sorted(set(client_ids))):
            stmt = (
                sa.select(Event.client_id, channel, sa.func.max(Event.occurred_at))
                .where(
                    Event.workspace_id == workspace_id,
                    Event.client_id.in_(chunk),
                    Event.type == TOUCHPOINT_EVENT,
                    Event.occurred_at > since,
                )
                .group_by(Event.client_id, channel)
            )
            for client_id, name, moment in (await self.session.execute(stmt)).all():
                if name is not None:
                    latest.setdefault(client_id, {})[name] = moment
        return latest

    async def replies(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID], since: datetime
    ) -> dict[uuid.UUID, datetime]:
        """Each client's latest reply to outreach after `since`."""
        latest: dict[uuid.UUID, datetime] = {}
        for chunk in chunks(sorted(set(client_ids))):
            stmt = (
                sa.select(Event.client_id, sa.func.max(Event.occurred_at))
                .where(
                    Event.workspace_id == workspace_id,
                    Event.client_id.in_(chunk),
                    Event.type == REPLY_EVENT,
                    Event.occurred_at > since,
                )
                .group_by(Event.client_id)
            )
            latest.update({r[0]: r[1] for r in (await self.session.execute(stmt)).all()})
        return latest

    async def open_tasks(
        self,
        workspace_id: uuid.UUID,
        cadence_ids: Sequence[uuid.UUID],
        client_ids: Sequence[uuid.UUID],
    ) -> set[tuple[uuid.UUID, uuid.UUID]]:
        """(cadence, client) pairs with an open or snoozed task of the cadence."""
        found: set[tuple[uuid.UUID, uuid.UUID]] = set()
        if not cadence_ids:
            return found
        for chunk in chunks(sorted(set(client_ids))):
            stmt = (
                sa.select(Task.cadence_id, Task.client_id)
                .where(
                    Task.workspace_id == workspace_id,
                    Task.client_id.in_(chunk),
                    Task.cadence_id.in_(set(cadence_ids)),
                    Task.status.in_(OPEN_TASK_STATUSES),
                )
                .distinct()
            )
            for cadence_id, client_id in (await self.session.execute(stmt)).all():
                if cadence_id is not None:
                    found.add((cadence_id, client_id))
        return found

    # --- automatic enrolment ---------------------------------------------------------------

    async def tier_candidates(
        self,
        cadence_ids: Sequence[uuid.UUID],
        *,
        client_ids: Sequence[uuid.UUID] | None = None,
        limit: int | None = None,
    ) -> list[Candidate]:
        """Active clients of the cadences' tiers that they do not hold yet; with `limit`, at
        most one more than it (enough to tell there are too many)."""
        if not cadence_ids:
            return []
        held = (
            sa.select(CadenceEnrollment.id)
            .where(
                CadenceEnrollment.cadence_id == Cadence.id,
                CadenceEnrollment.client_id == Client.id,
                CadenceEnrollment.status == EnrollmentStatus.ACTIVE.value,
            )
            .exists()
        )
        stmt = (
            sa.select(Cadence.id, Cadence.workspace_id, Client.id, Client.last_touchpoint_at)
            .join(
                Client,
                sa.and_(Client.workspace_id == Cadence.workspace_id, Client.tier == Cadence.tier),
            )
            .where(
                Cadence.id.in_(set(cadence_ids)),
                Client.status == ClientStatus.ACTIVE.value,
                ~held,
            )
            .order_by(Cadence.id, Client.id)
        )
        if limit is not None:
            stmt = stmt.limit(limit + 1)
        if client_ids is None:
            rows = (await self.session.execute(stmt)).all()
        else:
            rows = []
            for chunk in chunks(sorted(set(client_ids))):
                rows += (await self.session.execute(stmt.where(Client.id.in_(chunk)))).all()
        return [Candidate(*row) for row in rows]

    async def held(
        self,
        cadence_id: uuid.UUID,
        *,
        sources: Sequence[EnrollmentSource] | None = None,
        client_ids: Sequence[uuid.UUID] | None = None,
    ) -> dict[uuid.UUID, uuid.UUID]:
        """Client id → active enrolment id of one cadence (of these sources, if given)."""
        stmt = sa.select(CadenceEnrollment.client_id, CadenceEnrollment.id).where(
            CadenceEnrollment.cadence_id == cadence_id,
            CadenceEnrollment.status == EnrollmentStatus.ACTIVE.value,
        )
        if sources is not None:
            stmt = stmt.where(CadenceEnrollment.source.in_([s.value for s in sources]))
        if client_ids is None:
            rows = (await self.session.execute(stmt)).all()
        else:
            rows = []
            for chunk in chunks(sorted(set(client_ids))):
                stmt_chunk = stmt.where(CadenceEnrollment.client_id.in_(chunk))
                rows += (await self.session.execute(stmt_chunk)).all()
        return {r[0]: r[1] for r in rows}

    async def active_clients(
        self, workspace_id: uuid.UUID, client_ids: Sequence[uuid.UUID], tier: str | None
    ) -> dict[uuid.UUID, datetime | None]:
        """Of `client_ids`, the active ones (of `tier`, when given) with their last touchpoint."""
        found: dict[uuid.UUID, datetime | None] = {}
        for chunk in chunks(sorted(set(client_ids))):
            stmt = sa.select(Client.id, Client.last_touchpoint_at).where(
                Client.workspace_id == workspace_id,
                Client.id.in_(chunk),
                Client.status == ClientStatus.ACTIVE.value,
            )
            if tier is not None:
                stmt = stmt.where(Client.tier == tier)
            found.update({r[0]: r[1] for r in (await self.session.execute(stmt)).all()})
        return found

    async def end_off_tier(
        self,
        cadence_ids: Sequence[uuid.UUID],
        now: datetime,
        *,
        client_ids: Sequence[uuid.UUID] | None = None,
    ) -> int:
        """Ends the tier enrolments of these cadences whose client churned (`client_inactive`)
        or is no longer of the cadence's tier (`tier_changed`); returns how many."""
        if not cadence_ids:
            return 0
        client = sa.select(Client.id).where(Client.id == _ENROLLMENTS.c.client_id)
        inactive = client.where(Client.status != ClientStatus.ACTIVE.value).exists()
        in_tier = (
            client.join(Cadence, Cadence.id == _ENROLLMENTS.c.cadence_id)
            .where(Client.tier == Cadence.tier)
            .exists()
        )
        scopes = [None] if client_ids is None else list(chunks(sorted(set(client_ids))))
        ended = 0
        for off, reason in (
            (inactive, ExitReason.CLIENT_INACTIVE),
            (~in_tier, ExitReason.TIER_CHANGED),
        ):
            for scope in scopes:
                where = [
                    _ENROLLMENTS.c.cadence_id.in_(set(cadence_ids)),
                    _ENROLLMENTS.c.status == EnrollmentStatus.ACTIVE.value,
                    _ENROLLMENTS.c.source == EnrollmentSource.TIER.value,
                    off,
                ]
                if scope is not None:
                    where.append(_ENROLLMENTS.c.client_id.in_(scope))
                stmt = sa.update(_ENROLLMENTS).where(*where)
                result = await self.session.execute(stmt.values(**ended_values(reason.value, now)))
                ended += int(getattr(result, "rowcount", 0) or 0)
        return ended
