"""One run of one outbox row, the same under arq and under the in-process runner.

A run claims its row (a conditional UPDATE, so one run at a time), runs the job body in a
transaction that also marks the row finished — committed only while the run still holds its
claim — so the body's effect lands exactly once however often the row is delivered."""

import asyncio
import logging
import random
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.repositories.outbox import OutboxRepository, RunningJob
from app.domain.jobs import JobStatus
from app.facts import UnreadableFact, parse
from app.workers import metrics
from app.workers.job import Job, JobRun, PermanentJobError, Registry, TransientJobError

log = logging.getLogger("tenure.jobs")
T = TypeVar("T")

LEASE_MARGIN = timedelta(seconds=5)
"""A claim outlives the job's timeout by this much, so a live run never loses it."""


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class JobEnvironment:
    """What job runs share in one process: settings, the database, the registry."""

    settings: Settings
    sessionmaker: async_sessionmaker[AsyncSession]
    registry: Registry
    clock: Callable[[], datetime] = field(default=utcnow)

    def __post_init__(self) -> None:
        engine: AsyncEngine = self.sessionmaker.kw["bind"]
        self.autocommit = engine.execution_options(isolation_level="AUTOCOMMIT")


class Outcome(StrEnum):
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    FAILED = "failed"
    SKIPPED = "skipped"  # finished already, or another run holds it


@dataclass(frozen=True)
class Execution:
    outcome: Outcome
    retry_in: float | None = None
    result: Any = None


class ClaimLost(Exception):
    """The run outlived its claim and another run took the row; its work is rolled back."""


async def execute(
    env: JobEnvironment, job: Job, outbox_id: uuid.UUID, *, retry_waits_as: JobStatus
) -> Execution:
    """`retry_waits_as`: ENQUEUED when arq keeps the deferred retry, PENDING for the runner."""
    lease = timedelta(seconds=job.timeout_seconds) + LEASE_MARGIN
    claim = asyncio.ensure_future(_claim(env, outbox_id, lease))
    try:
        claimed = await asyncio.shield(claim)
    except asyncio.CancelledError:
        # Stopped while claiming: if the claim committed after all, give the row back.
        taken = await _outlast_cancellation(claim)
        if taken is not None:
            await _outlast_cancellation(
                asyncio.ensure_future(_settle(env, taken, retry_waits_as, None, released=True))
            )
        raise
    if claimed is None:
        metrics.JOBS.labels(job=job.name, outcome=Outcome.SKIPPED.value).inc()
        return Execution(Outcome.SKIPPED)
    if claimed.attempts == 1:
        latency = (claimed.started_at - claimed.created_at).total_seconds()
        metrics.COMMIT_TO_START.labels(job=job.name).observe(max(latency, 0.0))
    started = time.perf_counter()
    try:
        execution = await _run(env, job, claimed, retry_waits_as)
    finally:
        metrics.JOB_DURATION.labels(job=job.name).observe(time.perf_counter() - started)
    metrics.JOBS.labels(job=job.name, outcome=execution.outcome.value).inc()
    return execution


async def _claim(env: JobEnvironment, outbox_id: uuid.UUID, lease: timedelta) -> RunningJob | None:
    # One statement needs no transaction around it: autocommit saves BEGIN and COMMIT, two of
    # the round trips every job pays.
    async with env.sessionmaker(bind=env.autocommit) as session:
        return await OutboxRepository(session).claim_for_run(outbox_id, env.clock(), lease)


async def _run(
    env: JobEnvironment, job: Job, claimed: RunningJob, retry_waits_as: JobStatus
) -> Execution:
    try:
        try:
            fact = parse(claimed.kind, claimed.payload)
        except UnreadableFact as exc:
            raise PermanentJobError(str(exc)) from exc
        async with env.sessionmaker() as session:
            run = JobRun(
                id=claimed.id,
                workspace_id=claimed.workspace_id,
                kind=claimed.kind,
                payload=claimed.payload,
                attempt=claimed.attempts,
                now=claimed.started_at,
                session=session,
                settings=env.settings,
                fact=fact,
                fact_id=claimed.fact_id,
            )
            async with asyncio.timeout(job.timeout_seconds):
                result = await job.body(run)
            # The completion commits with the body's writes; a body that wrote nothing needs
            # no transaction to share, so its completion is one autocommitted statement.
            if session.in_transaction():
                await _succeed(session, claimed, env.clock())
                await session.commit()
            else:
                async with env.sessionmaker(bind=env.autocommit) as alone:
                    await _succeed(alone, claimed, env.clock())
        return Execution(Outcome.SUCCEEDED, result=result)
    except asyncio.CancelledError:
        # Shutdown: the row waits again, where arq (which re-queues it) or a restart finds it.
        await _outlast_cancellation(
            asyncio.ensure_future(_settle(env, claimed, retry_waits_as, None, released=True))
        )
        raise
    except ClaimLost:
        log.warning("job lost its claim", extra={"job": job.name, "outbox_id": str(claimed.id)})
        return Execution(Outcome.SKIPPED)
    except PermanentJobError as exc:
        await _settle(env, claimed, JobStatus.FAILED, _describe(exc))
        return Execution(Outcome.FAILED)
    except Exception as exc:
        error = _describe(exc)
        if job.retry.exhausted(claimed.attempts):
            await _settle(env, claimed, JobStatus.FAILED, error)
            log.error("job failed", extra={"job": job.name, "outbox_id": str(claimed.id)})
            return Execution(Outcome.FAILED)
        retry_after = exc.retry_after if isinstance(exc, TransientJobError) else None
        delay = job.retry.delay(claimed.attempts, random.random(), retry_after)
        await _settle(env, claimed, retry_waits_as, error, retry_in=delay)
        return Execution(Outcome.RETRYING, retry_in=delay)


async def _succeed(session: AsyncSession, claimed: RunningJob, now: datetime) -> None:
    if not await OutboxRepository(session).succeed(claimed.id, claimed.attempts, now):
        raise ClaimLost(str(claimed.id))


async def _settle(
    env: JobEnvironment,
    claimed: RunningJob,
    status: JobStatus,
    error: str | None,
    *,
    retry_in: float = 0.0,
    released: bool = False,
) -> None:
    now = env.clock()
    async with env.sessionmaker() as session:
        outbox = OutboxRepository(session)
        if released:
            await outbox.release(claimed.id, claimed.attempts, status, now)
        elif status is JobStatus.FAILED:
            await outbox.fail(claimed.id, claimed.attempts, now, error or "failed")
        else:
            available_at = now + timedelta(seconds=retry_in)
            await outbox.retry_later(
                claimed.id, claimed.attempts, status, available_at, error or ""
            )
        await session.commit()


RELEASE_DEADLINE_SECONDS = 10.0
UNFINISHED_WRITES: "set[asyncio.Future[Any]]" = set()
"""Writes that must outlive a shutdown; the worker waits for them before its loop ends."""


async def finish_unfinished_writes() -> None:
    """Called last on shutdown: the event loop's own teardown would cancel these."""
    if UNFINISHED_WRITES:
        await asyncio.wait(list(UNFINISHED_WRITES), timeout=RELEASE_DEADLINE_SECONDS)


async def _outlast_cancellation(task: "asyncio.Future[T]") -> T | None:
    """A shutdown cancels more than once (arq's signal handler, then its close): keep waiting
    for a short database write that must not be cut off (a claim, or giving a row back), up to
    a deadline. None if it did not finish, or failed (the lease will expire instead)."""
    UNFINISHED_WRITES.add(task)
    task.add_done_callback(UNFINISHED_WRITES.discard)
    deadline = time.monotonic() + RELEASE_DEADLINE_SECONDS
    while not task.done() and time.monotonic() < deadline:
        try:
            await asyncio.wait_for(asyncio.shield(task), deadline - time.monotonic())
        except asyncio.CancelledError:
            continue
        except Exception:
            break
    if not task.done() or task.cancelled() or task.exception() is not None:
        log.warning("a database write cut off by shutdown did not finish")
        return None
    return task.result()


def _describe(exc: BaseException) -> str:
    text = str(exc) or exc.__class__.__name__
    return f"{exc.__class__.__name__}: {text}"[:2000]
