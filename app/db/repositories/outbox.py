"""The outbox: written beside the change that causes work, claimed by relays and executions.

Every state change is one conditional UPDATE, so two relays or two workers racing for a row
never both win it."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OutboxMessage
from app.db.repositories.paging import Page, paginate, sort_keys
from app.db.types import UTCDateTime
from app.domain.jobs import JobStatus

OUTBOX_WRITTEN = "tenure.outbox_written"
"""Session.info flag: this transaction wrote outbox rows, so wake the relay on commit."""

JOB_SORTS = sort_keys({"created_at": OutboxMessage.created_at})
CLAIMABLE = (JobStatus.PENDING, JobStatus.ENQUEUED)


@dataclass(frozen=True)
class NewMessage:
    kind: str
    payload: dict[str, Any]
    workspace_id: uuid.UUID | None = None
    dedupe_key: str | None = None
    available_at: datetime | None = None
    """Not before then (a delayed action); now when unset."""


@dataclass(frozen=True)
class ClaimedRow:
    id: uuid.UUID
    kind: str
    generation: int
    consumer: str | None


@dataclass(frozen=True)
class RunningJob:
    """What an execution needs after claiming its row."""

    id: uuid.UUID
    workspace_id: uuid.UUID | None
    kind: str
    payload: dict[str, Any]
    attempts: int
    created_at: datetime
    started_at: datetime
    fact_id: uuid.UUID | None


@dataclass(frozen=True)
class OutboxDepth:
    by_status: dict[str, int]
    oldest_pending_at: datetime | None


_OUTBOX = sa.Table(OutboxMessage.__tablename__, OutboxMessage.metadata)
_NOW = sa.bindparam("now", type_=UTCDateTime())
# The two statements every job runs, built once as Core statements: no ORM bookkeeping and no
# per-call construction on the hot path of every job.
_CLAIM = (
    sa.update(_OUTBOX)
    .where(
        _OUTBOX.c.id == sa.bindparam("outbox_id", type_=sa.Uuid()),
        sa.or_(
            _OUTBOX.c.status.in_([status.value for status in CLAIMABLE]),
            sa.and_(_OUTBOX.c.status == JobStatus.RUNNING.value, _OUTBOX.c.lease_expires_at < _NOW),
        ),
    )
    .values(
        status=JobStatus.RUNNING.value,
        attempts=_OUTBOX.c.attempts + 1,
        started_at=_NOW,
        lease_expires_at=sa.bindparam("lease_until", type_=UTCDateTime()),
    )
    .returning(
        _OUTBOX.c.id,
        _OUTBOX.c.workspace_id,
        _OUTBOX.c.kind,
        _OUTBOX.c.payload,
        _OUTBOX.c.attempts,
        _OUTBOX.c.created_at,
        _OUTBOX.c.started_at,
        _OUTBOX.c.fact_id,
    )
)
_SUCCEED = (
    sa.update(_OUTBOX)
    .where(
        _OUTBOX.c.id == sa.bindparam("outbox_id", type_=sa.Uuid()),
        _OUTBOX.c.status == JobStatus.RUNNING.value,
        _OUTBOX.c.attempts == sa.bindparam("attempt"),
    )
    .values(status=JobStatus.SUCCEEDED.value, finished_at=_NOW, lease_expires_at=None)
)


_COPY_SOURCE = sa.select(
    sa.bindparam("new_id", type_=sa.Uuid()),
    _OUTBOX.c.workspace_id,
    _OUTBOX.c.kind,
    _OUTBOX.c.payload,
    sa.bindparam("dedupe_key", type_=sa.String()),
    sa.literal(JobStatus.PENDING.value),
    sa.literal(0),
    sa.literal(0),
    _OUTBOX.c.created_at,
    _NOW,
    sa.bindparam("consumer", type_=sa.String()),
    _OUTBOX.c.id,
).where(_OUTBOX.c.id == sa.bindparam("fact_id", type_=sa.Uuid()))
_COPY_COLUMNS = (
    "id",
    "workspace_id",
    "kind",
    "payload",
    "dedupe_key",
    "status",
    "attempts",
    "generation",
    "created_at",
    "available_at",
    "consumer",
    "fact_id",
)
_COPY = {
    name: insert(_OUTBOX).from_select(_COPY_COLUMNS, _COPY_SOURCE).on_conflict_do_nothing()
    for name, insert in (("postgresql", pg_insert), ("sqlite", sqlite_insert))
}
"""A fact's row copied for a further consumer (fan-out), built once like the two above."""


_ROW = (OutboxMessage.id, OutboxMessage.kind, OutboxMessage.generation, OutboxMessage.consumer)


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _dialect(self) -> str:
        return self.session.get_bind().dialect.name

    async def add(self, messages: list[NewMessage], now: datetime) -> int:
        """Rows with a dedupe key already present are skipped; returns how many were written."""
        if not messages:
            return 0
        rows = [
            {
                "id": uuid.uuid4(),
                "workspace_id": m.workspace_id,
                "kind": m.kind,
                "payload": m.payload,
                "dedupe_key": m.dedupe_key,
                "status": JobStatus.PENDING.value,
                "attempts": 0,
                "generation": 0,
                "created_at": now,
                "available_at": m.available_at or now,
            }
            for m in messages
        ]
        insert = pg_insert if self._dialect == "postgresql" else sqlite_insert
        stmt = insert(OutboxMessage).on_conflict_do_nothing(index_elements=["dedupe_key"])
        result = await self.session.execute(stmt.returning(OutboxMessage.id), rows)
        written = len(result.all())
        if written:
            self.session.info[OUTBOX_WRITTEN] = True
        return written

    async def claim_for_relay(self, now: datetime, limit: int) -> list[ClaimedRow]:
        """Pending rows that are due; on PostgreSQL locked so that other relays skip them until
        this transaction ends."""
        stmt = (
            sa.select(*_ROW)
            .where(
                OutboxMessage.status == JobStatus.PENDING.value,
                OutboxMessage.available_at <= now,
            )
            .order_by(OutboxMessage.available_at)
            .limit(limit)
        )
        if self._dialect == "postgresql":
            stmt = stmt.with_for_update(skip_locked=True)
        return [ClaimedRow(*row) for row in (await self.session.execute(stmt)).all()]

    async def mark_enqueued(self, ids: list[uuid.UUID], now: datetime) -> None:
        if ids:
            await self.session.execute(
                sa.update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.status == JobStatus.PENDING.value,
                )
                .values(status=JobStatus.ENQUEUED.value, enqueued_at=now)
            )

    async def assign(self, ids: list[uuid.UUID], consumer: str) -> set[uuid.UUID]:
        """Facts become their first consumer's rows; returns the ids this call assigned (a
        fact another relay assigned meanwhile is not among them)."""
        if not ids:
            return set()
        result = await self.session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.consumer.is_(None))
            .values(consumer=consumer, fact_id=OutboxMessage.id)
            .returning(OutboxMessage.id)
        )
        return set(result.scalars().all())

    async def copy_for(
        self, facts: list[tuple[ClaimedRow, str]], now: datetime
    ) -> list[ClaimedRow]:
        """For each (fact, further consumer), a pending row of the fact for that consumer, in
        one statement that copies the payload inside the database; the dedupe key (fact,
        consumer) makes a second fan-out of the same fact write nothing."""
        if not facts:
            return []
        copies = [ClaimedRow(uuid.uuid4(), fact.kind, 0, consumer) for fact, consumer in facts]
        await self.session.execute(
            _COPY[self._dialect],
            [
                {
                    "new_id": copy.id,
                    "dedupe_key": f"fact:{fact.id}:{copy.consumer}",
                    "now": now,
                    "consumer": copy.consumer,
                    "fact_id": fact.id,
                }
                for (fact, _), copy in zip(facts, copies, strict=True)
            ],
        )
        self.session.info[OUTBOX_WRITTEN] = True
        return copies

    async def finish_unconsumed(self, ids: list[uuid.UUID], now: datetime) -> None:
        """Facts no job of this version consumes: delivered to all of their none."""
        if ids:
            await self.session.execute(
                sa.update(OutboxMessage)
                .where(
                    OutboxMessage.id.in_(ids),
                    OutboxMessage.consumer.is_(None),
                    OutboxMessage.status == JobStatus.PENDING.value,
                )
                .values(status=JobStatus.SUCCEEDED.value, fact_id=OutboxMessage.id, finished_at=now)
            )

    async def set_aside(self, ids: list[uuid.UUID], until: datetime, error: str) -> None:
        """Rows no job of this process consumes (during a rolling deploy, a newer kind) wait,
        with the reason visible, for a process that knows them."""
        if ids:
            await self.session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id.in_(ids), OutboxMessage.status == JobStatus.PENDING.value)
                .values(available_at=until, last_error=error)
            )

    async def claim_for_run(
        self, outbox_id: uuid.UUID, now: datetime, lease: timedelta
    ) -> RunningJob | None:
        """Take the row for one execution: waiting rows, or running ones whose lease ran out
        (their execution died). None when another execution holds it or it is finished."""
        params = {"outbox_id": outbox_id, "now": now, "lease_until": now + lease}
        row = (await self.session.execute(_CLAIM, params)).one_or_none()
        return None if row is None else RunningJob(*row)

    async def due(self, now: datetime, limit: int, exclude: set[uuid.UUID]) -> list[ClaimedRow]:
        """Pending rows an in-process runner may start (abandoned runs come back through the
        sweeper); `exclude` are the ones it is already running."""
        stmt = (
            sa.select(*_ROW)
            .where(
                OutboxMessage.status == JobStatus.PENDING.value,
                OutboxMessage.available_at <= now,
            )
            .order_by(OutboxMessage.available_at)
            .limit(limit + len(exclude))
        )
        rows = [ClaimedRow(*row) for row in (await self.session.execute(stmt)).all()]
        return [row for row in rows if row.id not in exclude][:limit]

    async def finish_done(self, kind: str, dedupe_keys: list[str], now: datetime) -> int:
        """Waiting rows whose work this transaction did for them (a batch sent their email),
        finished without a run; an arq job already queued for one finds it finished. Never
        waits: a row another transaction holds (its run is claiming it) is left to its run,
        so this cannot deadlock a transaction that already did its outside work."""
        if not dedupe_keys:
            return 0
        waiting = sa.select(_OUTBOX.c.id).where(
            _OUTBOX.c.kind == kind,
            _OUTBOX.c.dedupe_key.in_(dedupe_keys),
            _OUTBOX.c.status.in_([status.value for status in CLAIMABLE]),
        )
        if self.session.get_bind().dialect.name == "postgresql":
            waiting = waiting.with_for_update(skip_locked=True)
        result = await self.session.execute(
            sa.update(_OUTBOX)
            .where(_OUTBOX.c.id.in_(waiting.scalar_subquery()))
            .values(status=JobStatus.SUCCEEDED.value, finished_at=now, lease_expires_at=None)
        )
        return int(getattr(result, "rowcount", 0))

    async def succeed(self, outbox_id: uuid.UUID, attempt: int, now: datetime) -> bool:
        """False when the run lost its claim: the caller must roll back what it did."""
        params = {"outbox_id": outbox_id, "attempt": attempt, "now": now}
        result = await self.session.execute(_SUCCEED, params)
        return bool(getattr(result, "rowcount", 0))

    async def fail(self, outbox_id: uuid.UUID, attempt: int, now: datetime, error: str) -> bool:
        return await self._settle(
            outbox_id,
            attempt,
            status=JobStatus.FAILED.value,
            finished_at=now,
            last_error=error,
            lease_expires_at=None,
        )

    async def retry_later(
        self,
        outbox_id: uuid.UUID,
        attempt: int,
        status: JobStatus,
        available_at: datetime,
        error: str,
    ) -> bool:
        """After a transient failure: `pending` for the runner, `enqueued` when arq holds the
        deferred retry."""
        return await self._settle(
            outbox_id,
            attempt,
            status=status.value,
            available_at=available_at,
            last_error=error,
            lease_expires_at=None,
        )

    async def release(
        self, outbox_id: uuid.UUID, attempt: int, status: JobStatus, now: datetime
    ) -> bool:
        """A run interrupted by shutdown: the row waits again and the attempt does not count."""
        return await self._settle(
            outbox_id,
            attempt,
            status=status.value,
            attempts=attempt - 1,
            available_at=now,
            lease_expires_at=None,
        )

    async def _settle(self, outbox_id: uuid.UUID, attempt: int, **values: Any) -> bool:
        """Only the run that holds the claim (its attempt number) may settle the row."""
        result = await self.session.execute(
            sa.update(OutboxMessage)
            .where(
                OutboxMessage.id == outbox_id,
                OutboxMessage.status == JobStatus.RUNNING.value,
                OutboxMessage.attempts == attempt,
            )
            .values(**values)
        )
        return bool(getattr(result, "rowcount", 0))

    async def sweep(self, now: datetime, stale_after: timedelta) -> int:
        """Hand stuck rows to the relay again.

        A row enqueued well past its due time was lost by Redis, or is stuck behind an arq
        in-progress key left by a killed worker (which lives as long as the longest timeout
        of any job); a row whose run's lease expired was abandoned by a dead run. Either way
        it goes back to pending under a new arq job id. Should the old delivery still run,
        it finds the row claimed or finished and does nothing."""
        stuck = sa.and_(
            OutboxMessage.status == JobStatus.ENQUEUED.value,
            OutboxMessage.available_at < now - stale_after,
            sa.or_(
                OutboxMessage.enqueued_at.is_(None),
                OutboxMessage.enqueued_at < now - stale_after,
            ),
        )
        abandoned = sa.and_(
            OutboxMessage.status == JobStatus.RUNNING.value,
            OutboxMessage.lease_expires_at < now,
        )
        result = await self.session.execute(
            sa.update(OutboxMessage)
            .where(sa.or_(stuck, abandoned))
            .values(
                status=JobStatus.PENDING.value,
                available_at=now,
                generation=OutboxMessage.generation + 1,
                lease_expires_at=None,
            )
            .returning(OutboxMessage.id)
        )
        swept = len(result.all())
        if swept:
            self.session.info[OUTBOX_WRITTEN] = True
        return swept

    async def get(self, workspace_id: uuid.UUID, outbox_id: uuid.UUID) -> OutboxMessage | None:
        stmt = sa.select(OutboxMessage).where(
            OutboxMessage.workspace_id == workspace_id, OutboxMessage.id == outbox_id
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def page(
        self,
        workspace_id: uuid.UUID,
        *,
        statuses: list[JobStatus],
        kinds: list[str],
        jobs: list[str],
        cursor: str | None,
        limit: int,
    ) -> Page[OutboxMessage]:
        stmt = sa.select(OutboxMessage).where(OutboxMessage.workspace_id == workspace_id)
        if jobs:
            stmt = stmt.where(OutboxMessage.consumer.in_(jobs))
        if statuses:
            stmt = stmt.where(OutboxMessage.status.in_([s.value for s in statuses]))
        if kinds:
            stmt = stmt.where(OutboxMessage.kind.in_(kinds))
        return await paginate(
            self.session,
            stmt,
            id_column=OutboxMessage.id,
            sort="-created_at",
            key=JOB_SORTS["-created_at"],
            cursor=cursor,
            limit=limit,
        )

    async def requeue_failed(self, message: OutboxMessage, now: datetime) -> None:
        """A manual retry: a fresh set of tries under a new arq job id."""
        message.status = JobStatus.PENDING.value
        message.attempts = 0
        message.generation += 1
        message.available_at = now
        message.enqueued_at = None
        message.started_at = None
        message.finished_at = None
        await self.session.flush()
        self.session.info[OUTBOX_WRITTEN] = True

    async def depth(self, now: datetime) -> OutboxDepth:
        """Unfinished rows by status, and the commit time of the oldest one still waiting."""
        unfinished = [JobStatus.PENDING.value, JobStatus.ENQUEUED.value, JobStatus.RUNNING.value]
        counts = await self.session.execute(
            sa.select(OutboxMessage.status, sa.func.count())
            .where(OutboxMessage.status.in_(unfinished))
            .group_by(OutboxMessage.status)
        )
        oldest = await self.session.scalar(
            sa.select(sa.func.min(OutboxMessage.created_at)).where(
                OutboxMessage.status.in_([JobStatus.PENDING.value, JobStatus.ENQUEUED.value]),
                OutboxMessage.available_at <= now,
            )
        )
        by_status = dict.fromkeys(unfinished, 0)
        by_status.update({str(row[0]): int(row[1]) for row in counts.all()})
        return OutboxDepth(by_status=by_status, oldest_pending_at=oldest)

    async def purge_succeeded(self, before: datetime) -> int:
        result = await self.session.execute(
            sa.delete(OutboxMessage)
            .where(
                OutboxMessage.status == JobStatus.SUCCEEDED.value,
                OutboxMessage.finished_at < before,
            )
            .returning(OutboxMessage.id)
        )
        return len(result.all())
