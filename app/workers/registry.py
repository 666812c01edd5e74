"""The one list of jobs and schedules, read by the arq worker and by the in-process runner."""

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.domain.jobs import Cadence, OutboxKind, RetryPolicy, Timetable


@dataclass(frozen=True)
class JobRun:
    """What a job body receives. Its writes go through `session`, whose transaction commits
    together with the job's completion, so a run that dies midway leaves no effect behind."""

    id: uuid.UUID
    workspace_id: uuid.UUID | None
    kind: str
    payload: dict[str, Any]
    attempt: int
    now: datetime
    session: AsyncSession
    settings: Settings


JobBody = Callable[[JobRun], Awaitable[Any]]


class PermanentJobError(Exception):
    """Retrying cannot help (bad payload, a 4xx from a provider): fail now, keep the reason."""


class TransientJobError(Exception):
    """Worth another try; `retry_after` (seconds) honours a provider's Retry-After."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class Job:
    name: str
    body: JobBody
    consumes: tuple[str, ...] = ()
    timeout_seconds: float = 300.0
    retry: RetryPolicy = field(default_factory=RetryPolicy)


@dataclass(frozen=True)
class Schedule:
    """A timetable for a job. Through the outbox (the default) a firing is a row like any
    other: one per tick however many schedulers run, retried and visible. The sweeper runs
    directly, since it is what repairs the outbox."""

    job: Job
    timetable: Timetable
    through_outbox: bool = True


class Registry:
    def __init__(self, jobs: Iterable[Job], schedules: Iterable[Schedule] = ()) -> None:
        self.jobs = {job.name: job for job in jobs}
        self.schedules = tuple(schedules)
        self._by_kind: dict[str, Job] = {}
        for job in self.jobs.values():
            for kind in (*job.consumes, job.name):
                if kind in self._by_kind:
                    raise ValueError(f"two jobs consume {kind!r}")
                self._by_kind[kind] = job
        for schedule in self.schedules:
            if schedule.job.name not in self.jobs:
                raise ValueError(f"schedule of unregistered job {schedule.job.name!r}")

    def for_kind(self, kind: str) -> Job | None:
        """The job that consumes an outbox kind; a scheduled job's rows carry its own name."""
        return self._by_kind.get(kind)

    def extended(self, jobs: Iterable[Job], schedules: Iterable[Schedule] = ()) -> "Registry":
        return Registry([*self.jobs.values(), *jobs], [*self.schedules, *schedules])


@lru_cache(maxsize=1)
def default_registry() -> Registry:
    """Built on first use, once: job bodies import services, which must not import this at
    load time."""
    from app.workers import health, maintenance, relay

    evaluate = Job(
        "clients.evaluate",
        health.evaluate_clients,
        consumes=(OutboxKind.CLIENTS_CHANGED.value,),
        timeout_seconds=120,
    )
    notify = Job(
        "health.notify",
        health.notify_health_change,
        consumes=(
            OutboxKind.HEALTH_CHANGED.value,
            OutboxKind.SIGNAL_OPENED.value,
            OutboxKind.SIGNAL_RESOLVED.value,
        ),
    )
    rescore = Job("health.rescore_portfolio", health.rescore_portfolio, timeout_seconds=3600)
    cadence_tick = Job("cadences.tick", maintenance.cadence_tick)
    purge = Job("maintenance.purge", maintenance.purge_expired_records)
    sweep = Job("outbox.sweep", relay.sweep_outbox, timeout_seconds=60)
    return Registry(
        jobs=[evaluate, notify, rescore, cadence_tick, purge, sweep],
        schedules=[
            Schedule(rescore, Timetable(Cadence.DAILY, hour=3, minute=7)),
            Schedule(cadence_tick, Timetable(Cadence.HOURLY, minute=5)),
            Schedule(purge, Timetable(Cadence.HOURLY, minute=17)),
            Schedule(sweep, Timetable(Cadence.SECONDS, every=15), through_outbox=False),
        ],
    )
