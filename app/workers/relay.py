"""The relay: moves due outbox rows to whatever runs them (arq, or the in-process runner),
woken by commits in this process and polling for everything else. On the way it fans each fact
out to its consumers: one row per consuming job, so each has its own retries and failures."""

import asyncio
import logging
import threading
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any, Protocol

from arq.connections import ArqRedis, create_pool
from sqlalchemy import event
from sqlalchemy.orm import Session

from app.db.repositories.outbox import OUTBOX_WRITTEN, ClaimedRow, OutboxRepository
from app.domain.jobs import job_key
from app.facts import is_fact
from app.workers import metrics
from app.workers.execution import JobEnvironment
from app.workers.job import Job, JobRun
from app.workers.redis import QUEUE_NAME, redis_settings

log = logging.getLogger("tenure.relay")

RELAY_BATCH = 500
UNROUTABLE = "no job of this version runs this row; waiting for a process that does"
UNROUTABLE_WAIT = timedelta(minutes=1)


class CommitSignal:
    """Wakes this process's relays when a transaction that wrote outbox rows commits, so the
    job starts within milliseconds instead of the next poll."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = set()

    def subscribe(self) -> asyncio.Event:
        wake = asyncio.Event()
        with self._lock:
            self._waiters.add((asyncio.get_running_loop(), wake))
        return wake

    def unsubscribe(self, wake: asyncio.Event) -> None:
        with self._lock:
            self._waiters = {(loop, w) for loop, w in self._waiters if w is not wake}

    def notify(self) -> None:
        with self._lock:
            waiters = list(self._waiters)
        for loop, wake in waiters:
            if not loop.is_closed():
                loop.call_soon_threadsafe(wake.set)


COMMITS = CommitSignal()


@event.listens_for(Session, "after_commit")
def _wake_relays(session: Session) -> None:
    if session.info.pop(OUTBOX_WRITTEN, False):
        COMMITS.notify()


@event.listens_for(Session, "after_rollback")
def _forget_rolled_back(session: Session) -> None:
    session.info.pop(OUTBOX_WRITTEN, None)


class Dispatcher(Protocol):
    async def dispatch(self, env: JobEnvironment) -> int:
        """Move what is due; return how many rows moved (a full batch means: call again)."""


class ArqDispatcher:
    """Hands due rows to arq under a job id derived from the row, in the transaction that
    holds their lock: a failure to reach Redis rolls back and the rows stay pending."""

    def __init__(self, redis_url: str, batch: int = RELAY_BATCH) -> None:
        self.redis_url = redis_url
        self.batch = batch
        self._pool: ArqRedis | None = None

    async def pool(self) -> ArqRedis:
        if self._pool is None:
            # The relay's own loop retries: a pass fails fast and the rows stay pending.
            settings = redis_settings(self.redis_url, outage_seconds=0)
            settings.conn_retries = 0
            self._pool = await create_pool(settings)
        return self._pool

    async def dispatch(self, env: JobEnvironment) -> int:
        pool = await self.pool()
        now = env.clock()
        async with env.sessionmaker() as session:
            outbox = OutboxRepository(session)
            rows = await outbox.claim_for_relay(now, self.batch)
            if not rows:
                return 0
            runnable = await route(env, outbox, rows, now)
            await asyncio.gather(
                *(
                    pool.enqueue_job(
                        job.name,
                        str(row.id),
                        _job_id=job_key(str(row.id), row.generation),
                        _queue_name=QUEUE_NAME,
                    )
                    for row, job in runnable
                )
            )
            await outbox.mark_enqueued([row.id for row, _ in runnable], now)
            await session.commit()
        metrics.RELAYED.inc(len(runnable))
        return len(rows)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()
            self._pool = None


async def route(
    env: JobEnvironment, outbox: OutboxRepository, rows: list[ClaimedRow], now: datetime
) -> list[tuple[ClaimedRow, Job]]:
    """Inside the caller's transaction, the rows to run now with their jobs: a row that names
    its consumer goes to that job; a fact fans out — the row becomes its first consumer's, and
    a copy is written for each further one. A known fact no job consumes is finished; a kind
    or consumer this process does not know (a rolling deploy) waits, with the reason visible,
    for a process that does."""
    runnable: list[tuple[ClaimedRow, Job]] = []
    unroutable: list[uuid.UUID] = []
    unconsumed: list[uuid.UUID] = []
    facts: dict[str, list[tuple[ClaimedRow, tuple[Job, ...]]]] = {}
    for row in rows:
        if row.consumer is not None:
            job = env.registry.job(row.consumer)
            if job is None:
                unroutable.append(row.id)
            else:
                runnable.append((row, job))
            continue
        consumers = env.registry.consumers(row.kind)
        if consumers:
            facts.setdefault(consumers[0].name, []).append((row, consumers))
        elif is_fact(row.kind):
            unconsumed.append(row.id)
        else:
            unroutable.append(row.id)
    further: list[tuple[ClaimedRow, Job]] = []
    for first, group in facts.items():
        assigned = await outbox.assign([row.id for row, _ in group], first)
        for row, consumers in group:
            if row.id in assigned:  # else another relay fanned it out meanwhile
                runnable.append((replace(row, consumer=first), consumers[0]))
                further += [(row, job) for job in consumers[1:]]
    copies = await outbox.copy_for([(row, job.name) for row, job in further], now)
    runnable += [(copy, job) for copy, (_, job) in zip(copies, further, strict=True)]
    await outbox.finish_unconsumed(unconsumed, now)
    await outbox.set_aside(unroutable, now + UNROUTABLE_WAIT, UNROUTABLE)
    return runnable


class Relay:
    """Runs a dispatcher whenever this process commits outbox rows, and every `poll` seconds
    for rows written elsewhere or whose retry time has come."""

    def __init__(self, env: JobEnvironment, dispatcher: Dispatcher) -> None:
        self.env = env
        self.dispatcher = dispatcher
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._wake: asyncio.Event | None = None

    def start(self) -> None:
        self._wake = COMMITS.subscribe()
        self._task = asyncio.create_task(self._loop(self._wake), name="tenure-relay")

    def nudge(self) -> None:
        """Look for due rows now (a slot freed up, a test wants it)."""
        if self._wake is not None:
            self._wake.set()

    async def stop(self) -> None:
        self._stop.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _loop(self, wake: asyncio.Event) -> None:
        failures = 0
        try:
            while not self._stop.is_set():
                wake.clear()
                try:
                    moved = await self.dispatcher.dispatch(self.env)
                    failures = 0
                except Exception:
                    metrics.RELAY_ERRORS.inc()
                    failures += 1
                    if failures == 1 or failures % 30 == 0:
                        log.warning("relay pass failed; rows stay pending", exc_info=True)
                    moved = 0
                if moved and failures == 0:
                    continue
                await _wait_any(wake, self._stop, self.env.settings.relay_poll_seconds)
        finally:
            COMMITS.unsubscribe(wake)


async def _wait_any(first: asyncio.Event, second: asyncio.Event, seconds: float) -> None:
    waits = [asyncio.create_task(first.wait()), asyncio.create_task(second.wait())]
    try:
        await asyncio.wait(waits, timeout=seconds, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()


async def run_directly(
    env: JobEnvironment, body: Callable[[JobRun], Awaitable[Any]], name: str
) -> Any:
    """A schedule that bypasses the outbox (the sweeper): its own short transaction."""
    async with env.sessionmaker() as session:
        run = JobRun(
            id=uuid.uuid4(),
            workspace_id=None,
            kind=name,
            payload={},
            attempt=1,
            now=env.clock(),
            session=session,
            settings=env.settings,
        )
        result = await body(run)
        await session.commit()
        return result
