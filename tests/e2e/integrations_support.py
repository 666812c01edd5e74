"""The production shape the integrations' end-to-end tests share: `tenure serve` +
`tenure worker` on one database and the suite's Redis database, loopback provider URLs
allowed (the fakes listen on 127.0.0.1), with an admin client of a fresh workspace."""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest
import redis

from app.workers.redis import QUEUE_NAME
from tests.e2e.processes import REDIS_URL, api, create_workspace, serve_env, services, wait_until

Logs = Callable[[], str]


@contextmanager
def serve_and_worker(
    database_url: str, directory: Path, workspace: str
) -> Iterator[tuple[httpx.Client, Logs]]:
    """Yields the workspace's admin client and both processes' logs once the worker's cron
    has run (its health-check key is in Redis); on a clean exit, asserts both processes stop
    cleanly. Skips without Redis; empties its Redis database before and after."""
    own_redis: redis.Redis = redis.Redis.from_url(REDIS_URL)
    try:
        own_redis.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    own_redis.flushdb()
    env = serve_env(database_url, TENURE_REDIS_URL=REDIS_URL, TENURE_ALLOW_LOOPBACK_URLS="true")
    key = create_workspace(env, workspace)
    try:
        with services(directory) as make:
            server = make("serve", env).start()
            worker = make("worker", env).start()
            server.wait_ready()

            def logs() -> str:
                return f"--- serve\n{server.log()}\n--- worker\n{worker.log()}"

            wait_until(
                lambda: bool(own_redis.exists(f"{QUEUE_NAME}:health-check")),
                seconds=60,
                explain=logs,
            )
            with api(server.base_url, key) as http:
                yield http, logs
            worker.assert_stops_cleanly()
            server.assert_stops_cleanly()
    finally:
        own_redis.flushdb()
        own_redis.close()
