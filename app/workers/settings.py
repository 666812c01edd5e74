"""arq worker configuration built from the registry and the one Settings object."""

from typing import Any, cast

from arq import cron
from arq.connections import RedisSettings
from arq.typing import WorkerCoroutine
from arq.worker import func

from app.config import Settings
from app.workers import context
from app.workers.registry import JOBS, SCHEDULES

QUEUE_NAME = "tenure:queue"


def redis_settings(url: str) -> RedisSettings:
    """Retries so that a Redis restart does not end the worker."""
    settings = RedisSettings.from_dsn(url)
    settings.retry_on_timeout = True
    settings.conn_retries = 10
    settings.conn_retry_delay = 1
    return settings


def worker_options(settings: Settings, redis_url: str | None = None) -> dict[str, Any]:
    url = redis_url or settings.redis_url
    if not url:
        raise ValueError("TENURE_REDIS_URL is not set: the worker needs Redis")
    return {
        "functions": [
            func(
                cast(WorkerCoroutine, job.function),
                name=job.name,
                timeout=job.timeout_seconds,
                max_tries=job.max_tries,
            )
            for job in JOBS
        ],
        "cron_jobs": [
            cron(
                cast(WorkerCoroutine, schedule.job.function),
                name=f"cron:{schedule.job.name}",
                hour=schedule.hour,
                minute=schedule.minute,
                unique=True,
                timeout=schedule.job.timeout_seconds,
            )
            for schedule in SCHEDULES
        ],
        "redis_settings": redis_settings(url),
        "queue_name": QUEUE_NAME,
        "on_startup": context.on_startup,
        "on_shutdown": context.on_shutdown,
        "ctx": {"settings": settings},
        "health_check_interval": 30,
    }
