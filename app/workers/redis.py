"""How Tenure talks to arq's Redis: one queue name, and connection settings that ride out a
Redis restart instead of ending the worker."""

from arq.connections import RedisSettings
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

QUEUE_NAME = "tenure:queue"


def redis_settings(url: str, *, outage_seconds: float = 120.0) -> RedisSettings:
    """Commands retry with capped exponential backoff for about `outage_seconds`, so a Redis
    restart pauses the worker rather than killing it."""
    settings = RedisSettings.from_dsn(url)
    settings.conn_retries = 10
    settings.conn_retry_delay = 1
    settings.retry_on_timeout = True
    settings.retry_on_error = [RedisConnectionError, RedisTimeoutError, ConnectionError, OSError]
    cap = 2.0
    settings.retry = Retry(
        ExponentialBackoff(cap=cap, base=0.05), retries=int(outage_seconds / cap)
    )
    return settings
