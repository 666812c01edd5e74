"""Embedded mode: with no Redis, the API process runs the same jobs from the same outbox.

The outbox is the queue, so nothing is held only in memory: rows pending when the process
stops (or dies) are run after it starts again; a run cut off by shutdown gives its row back."""

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import datetime

from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.jobs import JobStatus, schedule_key
from app.workers.execution import JobEnvironment, execute
from app.workers.job import Schedule
from app.workers.relay import Relay, route, run_directly

log = logging.getLogger("tenure.runner")


class InProcessDispatcher:
    """Starts due rows as tasks of this process, at most `concurrency` at a time."""

    def __init__(self, concurrency: int) -> None:
        self.concurrency = concurrency
        self.running: dict[uuid.UUID, asyncio.Task[object]] = {}
        self.finished = asyncio.Event()

    async def dispatch(self, env: JobEnvironment) -> int:
        free = self.concurrency - len(self.running)
        if free <= 0:
            return 0
        async with env.sessionmaker() as session:
            outbox = OutboxRepository(session)
            rows = await outbox.due(env.clock(), free, set(self.running))
            if not rows:
                return 0
            runnable = await route(env, outbox, rows, env.clock())
            await session.commit()
        started = 0
        for row, job in runnable[:free]:
            task = asyncio.create_task(
                execute(env, job, row.id, retry_waits_as=JobStatus.PENDING),
                name=f"tenure-job-{job.name}",
            )
            self.running[row.id] = task
            task.add_done_callback(self._on_done(row.id))
            started += 1
        # Copies of facts beyond the free slots stay pending for the next pass.
        return max(started, len(rows))

    def _on_done(self, row_id: uuid.UUID) -> Callable[[asyncio.Task[object]], None]:
        def done(_task: asyncio.Task[object]) -> None:
            self.running.pop(row_id, None)
            self.finished.set()

        return done

    async def drain(self, grace_seconds: float) -> None:
        """Let running jobs finish for a while, then cancel the rest: a cancelled run gives
        its row back. Cancelling only after the grace keeps short jobs from being cut off in
        the middle of a database call."""
        tasks = list(self.running.values())
        if tasks and grace_seconds > 0:
            await asyncio.wait(tasks, timeout=grace_seconds)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


class EmbeddedRunner:
    """Relay, executor and scheduler in one process."""

    def __init__(self, env: JobEnvironment) -> None:
        self.env = env
        self.dispatcher = InProcessDispatcher(env.settings.runner_concurrency)
        self.relay = Relay(env, self.dispatcher)
        self._scheduler: asyncio.Task[None] | None = None
        self._finished_watch: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await fire_owed_ticks(self.env)
        self.relay.start()
        self._scheduler = asyncio.create_task(self._schedule_loop(), name="tenure-scheduler")
        self._finished_watch = asyncio.create_task(self._rerelay_when_free())

    async def stop(self) -> None:
        """Graceful: stop taking rows, give back those still running, then return."""
        for task in (self._scheduler, self._finished_watch):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self.relay.stop()
        await self.dispatcher.drain(self.env.settings.shutdown_grace_seconds)

    async def _rerelay_when_free(self) -> None:
        """A finished job frees a slot: look for more work at once instead of at the next poll."""
        while True:
            await self.dispatcher.finished.wait()
            self.dispatcher.finished.clear()
            self.relay.nudge()

    async def _schedule_loop(self) -> None:
        schedules = self.env.registry.schedules
        if not schedules:
            return
        while True:
            now = self.env.clock()
            upcoming = [(s.timetable.next_after(now), s) for s in schedules]
            tick = min(moment for moment, _ in upcoming)
            await asyncio.sleep(max((tick - now).total_seconds(), 0.0))
            for moment, schedule in upcoming:
                if moment == tick:
                    try:
                        await fire(self.env, schedule, tick)
                    except Exception:
                        log.exception("schedule failed", extra={"job": schedule.job.name})


async def fire(env: JobEnvironment, schedule: Schedule, tick: datetime) -> None:
    """One firing: an outbox row keyed by the tick (one per tick across all schedulers), or,
    for the sweeper, a direct run."""
    if not schedule.through_outbox:
        await run_directly(env, schedule.job.body, schedule.job.name)
        return
    async with env.sessionmaker() as session:
        await OutboxRepository(session).add(
            [
                NewMessage(
                    kind=schedule.job.name,
                    payload={"tick": tick.isoformat()},
                    dedupe_key=schedule_key(schedule.job.name, tick),
                )
            ],
            env.clock(),
        )
        await session.commit()


async def fire_owed_ticks(env: JobEnvironment) -> None:
    """On start, the latest tick of each outbox schedule, in case the process was down then;
    its dedupe key makes this a no-op when that tick already ran."""
    now = env.clock()
    for schedule in env.registry.schedules:
        if schedule.through_outbox:
            await fire(env, schedule, schedule.timetable.last_at_or_before(now))
