"""The rules of background work: job states, how long to wait before a retry, when a schedule
fires next. Both the arq worker and the in-process runner follow these, so they behave alike."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum


class JobStatus(StrEnum):
    PENDING = "pending"  # committed, waiting for the relay (or for its retry time)
    ENQUEUED = "enqueued"  # handed to arq; arq owns the timing until the job starts
    RUNNING = "running"  # claimed by one execution until its lease expires
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # out of tries, or failed permanently; kept with its last error


FINISHED = frozenset({JobStatus.SUCCEEDED, JobStatus.FAILED})


@dataclass(frozen=True)
class RetryPolicy:
    """Exponential backoff with full jitter, capped: retries of many jobs do not stampede."""

    max_attempts: int = 5
    base_seconds: float = 2.0
    cap_seconds: float = 600.0

    def delay(self, attempt: int, jitter: float, retry_after: float | None = None) -> float:
        """Seconds to wait after failed attempt number `attempt` (1-based); `jitter` in [0, 1).

        The delay is at least half the exponential step, so a retry never comes back at once,
        and never sooner than a `Retry-After` the failure carried."""
        step = min(self.cap_seconds, self.base_seconds * 2.0 ** (attempt - 1))
        delay = step / 2 + step / 2 * jitter
        return float(max(delay, retry_after or 0.0))

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


class Cadence(StrEnum):
    SECONDS = "seconds"
    EVERY_MINUTE = "every_minute"
    HOURLY = "hourly"
    DAILY = "daily"


@dataclass(frozen=True)
class Timetable:
    """When a schedule fires, in UTC: every `every` seconds (a divisor of 60), every minute at
    `second`, hourly at `minute` or daily at `hour`:`minute`. Mirrors what arq's `cron` can
    express."""

    cadence: Cadence
    hour: int = 0
    minute: int = 0
    second: int = 0
    every: int = 60

    def __post_init__(self) -> None:
        if self.cadence is Cadence.SECONDS and (self.every < 1 or 60 % self.every):
            raise ValueError("`every` must divide a minute")

    @property
    def step(self) -> timedelta:
        return {
            Cadence.SECONDS: timedelta(seconds=self.every),
            Cadence.EVERY_MINUTE: timedelta(minutes=1),
            Cadence.HOURLY: timedelta(hours=1),
            Cadence.DAILY: timedelta(days=1),
        }[self.cadence]

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment` (timezone-aware)."""
        start = moment.replace(microsecond=0)
        if self.cadence is Cadence.SECONDS:
            candidate = start.replace(second=start.second - start.second % self.every)
        elif self.cadence is Cadence.EVERY_MINUTE:
            candidate = start.replace(second=self.second)
        elif self.cadence is Cadence.HOURLY:
            candidate = start.replace(minute=self.minute, second=self.second)
        else:
            candidate = start.replace(hour=self.hour, minute=self.minute, second=self.second)
        while candidate <= moment:
            candidate += self.step
        return candidate

    def last_at_or_before(self, moment: datetime) -> datetime:
        """The most recent firing at or before `moment`: the tick a late runner still owes."""
        return self.next_after(moment) - self.step


def job_key(outbox_id: str, generation: int) -> str:
    """arq's `_job_id`: one live arq job per outbox row and manual retry."""
    return f"outbox:{outbox_id}:{generation}"


def schedule_key(job_name: str, tick: datetime) -> str:
    """The outbox dedupe key of one schedule firing: several schedulers, one row per tick."""
    return f"schedule:{job_name}:{tick.isoformat()}"


class OutboxKind(StrEnum):
    """The kinds of fact written to the outbox for the work that follows; each reaches every
    job that consumes it, through a row of its own."""

    CLIENTS_CHANGED = "clients.changed"
    HEALTH_CHANGED = "health.changed"
    SIGNAL_OPENED = "signal.opened"
    SIGNAL_RESOLVED = "signal.resolved"
    CONTRACT_ENDED = "contract.ended"
    CLIENT_UPDATED = "client.updated"
    EVENT_INGESTED = "event.ingested"
    TASK_CREATED = "task.created"
    TASK_COMPLETED = "task.completed"
    TASK_ESCALATED = "task.escalated"
