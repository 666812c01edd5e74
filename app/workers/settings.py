"""arq mode: `WorkerSettings` built from the registry and the one Settings object.

Each registered job is an arq function taking an outbox row id; each schedule is an arq cron
(`unique=True`). The worker also runs a relay, so rows its own jobs write (and rows written
while no API was up) move without waiting for anyone else."""

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any, cast

from arq import Retry, cron
from arq.typing import WorkerCoroutine
from arq.worker import func

from app.config import Settings
from app.db.session import create_engine, create_sessionmaker
from app.domain.jobs import Cadence, JobStatus, Timetable
from app.integrations.http import close_shared_client
from app.workers.execution import (
    JobEnvironment,
    Outcome,
    execute,
    finish_unfinished_writes,
)
from app.workers.job import Job, Registry, Schedule
from app.workers.redis import QUEUE_NAME, redis_settings
from app.workers.registry import default_registry
from app.workers.relay import ArqDispatcher, Relay
from app.workers.runner import fire, fire_owed_ticks

log = logging.getLogger("tenure.worker")

ARQ_EXTRA_TRIES = 5
"""arq counts SIGKILLed runs as tries too; the outbox row's own attempt count decides."""
ARQ_TIMEOUT_MARGIN = 2.0
"""arq's own timeout fires after ours, so a slow job fails through our retry rules."""


def arq_function(job: Job) -> Callable[..., Awaitable[str]]:
    async def run(ctx: dict[str, Any], outbox_id: str) -> str:
        env: JobEnvironment = ctx["env"]
        execution = await execute(env, job, uuid.UUID(outbox_id), retry_waits_as=JobStatus.ENQUEUED)
        if execution.outcome is Outcome.RETRYING:
            raise Retry(defer=execution.retry_in)
        return execution.outcome.value

    run.__qualname__ = run.__name__ = job.name.replace(".", "_")
    return run


def cron_function(schedule: Schedule) -> Callable[..., Awaitable[None]]:
    async def tick(ctx: dict[str, Any]) -> None:
        env: JobEnvironment = ctx["env"]
        moment = env.clock()
        await fire(env, schedule, schedule.timetable.last_at_or_before(moment))

    tick.__qualname__ = tick.__name__ = f"cron_{schedule.job.name.replace('.', '_')}"
    return tick


def cron_fields(timetable: Timetable) -> dict[str, Any]:
    if timetable.cadence is Cadence.SECONDS:
        return {"second": set(range(0, 60, timetable.every)), "microsecond": 0}
    if timetable.cadence is Cadence.EVERY_MINUTE:
        return {"second": timetable.second, "microsecond": 0}
    if timetable.cadence is Cadence.HOURLY:
        return {"minute": timetable.minute, "second": timetable.second, "microsecond": 0}
    return {
        "hour": timetable.hour,
        "minute": timetable.minute,
        "second": timetable.second,
        "microsecond": 0,
    }


def worker_options(
    settings: Settings, redis_url: str | None = None, registry: Registry | None = None
) -> dict[str, Any]:
    url = redis_url or settings.redis_url
    if not url:
        raise ValueError("TENURE_REDIS_URL is not set: the worker needs Redis")
    registry = registry or default_registry()

    async def on_startup(ctx: dict[str, Any]) -> None:
        # A job holds one connection at a time (its claim, then its body); the relay and the
        # sweeper one each. A smaller pool would open and close overflow connections per job.
        engine = create_engine(
            settings.database_url, pre_ping=False, pool_size=settings.worker_max_jobs + 2
        )
        env = JobEnvironment(settings, create_sessionmaker(engine), registry)
        ctx["engine"] = engine
        ctx["env"] = env
        dispatcher = ArqDispatcher(url)
        relay = Relay(env, dispatcher)
        ctx["relay"], ctx["dispatcher"] = relay, dispatcher
        try:
            await fire_owed_ticks(env)
        except Exception:
            log.exception("could not fire owed schedule ticks")
        relay.start()

    async def on_shutdown(ctx: dict[str, Any]) -> None:
        relay: Relay | None = ctx.get("relay")
        if relay is not None:
            await relay.stop()
            await ctx["dispatcher"].close()
        await close_shared_client()  # the providers' pool: sends and CRM calls are over
        engine = ctx.get("engine")
        if engine is not None:
            await engine.dispose()

    return {
        "functions": [
            func(
                cast(WorkerCoroutine, arq_function(job)),
                name=job.name,
                timeout=job.timeout_seconds + ARQ_TIMEOUT_MARGIN,
                max_tries=job.retry.max_attempts + ARQ_EXTRA_TRIES,
                keep_result=3600,
            )
            for job in registry.jobs.values()
        ],
        "cron_jobs": [
            cron(
                cast(WorkerCoroutine, cron_function(schedule)),
                name=f"cron:{schedule.job.name}",
                unique=True,
                run_at_startup=False,
                timeout=60,
                **cron_fields(schedule.timetable),
            )
            for schedule in registry.schedules
        ],
        "redis_settings": redis_settings(url),
        "queue_name": QUEUE_NAME,
        "on_startup": on_startup,
        "on_shutdown": on_shutdown,
        "ctx": {},
        "poll_delay": settings.worker_poll_seconds,
        "max_jobs": settings.worker_max_jobs,
        "health_check_interval": 10,
        "keep_result": 3600,
    }


async def run_worker(settings: Settings, registry: Registry | None = None) -> None:
    """`tenure worker`: arq under a restart loop, so a Redis outage longer than the
    connection retries pauses the worker instead of ending it."""
    from arq.worker import Worker

    delay = 1.0
    while True:
        worker = Worker(
            **worker_options(settings, registry=registry),
            handle_signals=False,
            job_completion_wait=max(int(settings.shutdown_grace_seconds), 1),
        )
        stopping = asyncio.Event()
        _install_signal_handlers(worker, stopping)
        started = datetime.now()
        try:
            await worker.async_run()
            return
        except asyncio.CancelledError:
            if stopping.is_set():
                return
            raise
        except (ConnectionError, OSError) as exc:
            log.warning("worker lost Redis; restarting", extra={"error": str(exc)})
        except Exception as exc:
            if "redis" not in type(exc).__module__:
                raise
            log.warning("worker lost Redis; restarting", extra={"error": str(exc)})
        finally:
            try:
                await worker.close()
            except (Exception, asyncio.CancelledError):
                # arq's close re-raises the cancellation of the jobs it stopped; their rows
                # were given back, and the sweeper covers what arq could not re-queue.
                log.debug("closing the worker raised", exc_info=True)
            await finish_unfinished_writes()
        if stopping.is_set():
            return
        ran = (datetime.now() - started).total_seconds()
        delay = 1.0 if ran > 60 else min(delay * 2, 30.0)
        await asyncio.sleep(delay)


def _install_signal_handlers(worker: Any, stopping: asyncio.Event) -> None:
    """SIGTERM/SIGINT: stop taking jobs, let running ones finish for the grace period, then
    cancel the rest (arq re-queues them; their rows wait again). Cancelling at once could cut
    a job off inside a database call."""
    import signal

    loop = asyncio.get_running_loop()

    def stop(signum: int) -> None:
        stopping.set()
        worker.handle_sig_wait_for_completion(signum)

    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop, signum)
