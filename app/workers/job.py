"""What a job is: the contract between job bodies and whatever runs them, and the registry's
shape. Job modules import this, never the registry module that lists them, so adding a job
module cannot grow an import cycle."""

import uuid
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.domain.jobs import RetryPolicy, Timetable
from app.facts import JobRequest

M = TypeVar("M", bound=BaseModel)


class PermanentJobError(Exception):
    """Retrying cannot help (bad payload, a 4xx from a provider): fail now, keep the reason."""


class TransientJobError(Exception):
    """Worth another try; `retry_after` (seconds) honours a provider's Retry-After."""

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


@dataclass(frozen=True)
class JobRun:
    """What a job body receives. Its writes go through `session`, whose transaction commits
    together with the job's completion, so a run that dies midway leaves no effect behind.
    `fact` is the payload parsed by its kind's model (a `JobRequest` for rows addressed to
    the job by name); `fact_id` is shared by every consumer's row of one fact."""

    id: uuid.UUID
    workspace_id: uuid.UUID | None
    kind: str
    payload: dict[str, Any]
    attempt: int
    now: datetime
    session: AsyncSession
    settings: Settings
    fact: BaseModel = field(default_factory=JobRequest)
    fact_id: uuid.UUID | None = None

    def fact_as(self, model: type[M]) -> M:
        """The fact as the model this job consumes; anything else is a routing bug."""
        if not isinstance(self.fact, model):
            raise PermanentJobError(
                f"{self.kind} carries {type(self.fact).__name__}, not {model.__name__}"
            )
        return self.fact


JobBody = Callable[[JobRun], Awaitable[Any]]


@dataclass(frozen=True)
class Job:
    """`consumes`: the fact kinds this job runs for, besides rows addressed to its own name."""

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
    """Jobs by name, and for each outbox kind the jobs that consume it, in registration
    order: a fact reaches all of them, each through a row of its own."""

    def __init__(self, jobs: Iterable[Job], schedules: Iterable[Schedule] = ()) -> None:
        self.jobs: dict[str, Job] = {}
        for job in jobs:
            if job.name in self.jobs:
                raise ValueError(f"two jobs are named {job.name!r}")
            self.jobs[job.name] = job
        self.schedules = tuple(schedules)
        consumers: dict[str, list[Job]] = {}
        for job in self.jobs.values():
            for kind in dict.fromkeys((*job.consumes, job.name)):
                consumers.setdefault(kind, []).append(job)
        self._consumers = {kind: tuple(jobs) for kind, jobs in consumers.items()}
        for schedule in self.schedules:
            if schedule.job.name not in self.jobs:
                raise ValueError(f"schedule of unregistered job {schedule.job.name!r}")

    def consumers(self, kind: str) -> tuple[Job, ...]:
        """The jobs an outbox row of this kind fans out to; a job's own name reaches it alone."""
        return self._consumers.get(kind, ())

    def job(self, name: str) -> Job | None:
        return self.jobs.get(name)

    def extended(self, jobs: Iterable[Job], schedules: Iterable[Schedule] = ()) -> "Registry":
        return Registry([*self.jobs.values(), *jobs], [*self.schedules, *schedules])
