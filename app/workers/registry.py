"""The one list of jobs and schedules, read by arq (and later by the in-process runner)."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from app.workers import maintenance

JobFunction = Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class Job:
    name: str
    function: JobFunction
    timeout_seconds: int = 300
    max_tries: int = 5


@dataclass(frozen=True)
class Schedule:
    """A cron entry: which job runs at which minutes of which hours (None = every)."""

    job: Job
    hour: int | None = None
    minute: int = 0


PURGE_IDEMPOTENCY = Job("maintenance.purge_idempotency", maintenance.purge_idempotency_records)

JOBS: tuple[Job, ...] = (PURGE_IDEMPOTENCY,)
SCHEDULES: tuple[Schedule, ...] = (Schedule(PURGE_IDEMPOTENCY, minute=17),)
