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
        step = min(self.cap_seconds, self.base_seconds * 2 ** (attempt - 1))
        delay = step / 2 + step / 2 * jitter
        return max(delay, retry_after or 0.0)

    def exhausted(self, attempts: int) -> bool:
        return attempts >= self.max_attempts


class Cadence(StrEnum):
    EVERY_MINUTE = "every_minute"
    HOURLY = "hourly"
    DAILY = "daily"


@dataclass(frozen=True)
class Timetable:
    """When a schedule fires: every minute (at `second`), hourly (at `minute`) or daily
    (at `hour`:`minute`), in UTC. Mirrors what arq's `cron` can express."""

    cadence: Cadence
    hour: int = 0
    minute: int = 0
    second: int = 0

    def next_after(self, moment: datetime) -> datetime:
        """The first firing strictly after `moment` (timezone-aware)."""
        start = moment.replace(microsecond=0)
        if self.cadence is Cadence.EVERY_MINUTE:
            candidate = start.replace(second=self.second)
            step = timedelta(minutes=1)
        elif self.cadence is Cadence.HOURLY:
            candidate = start.replace(minute=self.minute, second=self.second)
            step = timedelta(hours=1)
        else:
            candidate = start.replace(hour=self.hour, minute=self.minute, second=self.second)
            step = timedelta(days=1)
        while candidate <= moment:
            candidate += step
        return candidate

    def last_at_or_before(self, moment: datetime) -> datetime:
        """The most recent firing at or before `moment`: the tick a late runner still owes."""
        following = self.next_after(moment)
        step = {
            Cadence.EVERY_MINUTE: timedelta(minutes=1),
            Cadence.HOURLY: timedelta(hours=1),
            Cadence.DAILY: timedelta(days=1),
        }[self.cadence]
        return following - step


def job_key(outbox_id: str, generation: int) -> str:
    """arq's `_job_id`: one live arq job per outbox row and manual retry."""
    return f"outbox:{outbox_id}:{generation}"


def schedule_key(job_name: str, tick: datetime) -> str:
    """The outbox dedupe key of one schedule firing: several schedulers, one row per tick."""
    return f"schedule:{job_name}:{tick.isoformat()}"
