"""The production shape: `tenure serve` (API and relay) and `tenure worker` (arq) on
PostgreSQL and Redis, started as the README shows. Runs on the PostgreSQL run of the suite."""

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
import redis

from app.workers.redis import QUEUE_NAME
from tests.databases import POSTGRES_URL
from tests.e2e.processes import (
    REDIS_URL,
    Service,
    api,
    create_workspace,
    serve_env,
    services,
    wait_until,
)
from tests.e2e.story import (
    CATCH_UP_SECONDS,
    assert_events_become_tasks_within_seconds,
    assert_the_story_plays_out,
    create_client_going_quiet,
    create_client_going_quiet_offline,
    wait_caught_up,
)

pytestmark = pytest.mark.skipif(
    not POSTGRES_URL, reason="production shape: runs with TENURE_TEST_DATABASE_URL (PostgreSQL)"
)
HEALTH_KEY = f"{QUEUE_NAME}:health-check"
"""arq writes it once the worker polls (after its startup), and deletes it as it stops."""


@dataclass
class Started:
    server: Service
    worker: Service
    database_url: str
    key: str
    redis: redis.Redis

    def api(self) -> httpx.Client:
        return api(self.server.base_url, self.key)

    def logs(self) -> str:
        return f"--- serve\n{self.server.log()}\n--- worker\n{self.worker.log()}"

    def wait_worker_polling(self) -> None:
        wait_until(lambda: bool(self.redis.exists(HEALTH_KEY)), seconds=60, explain=self.logs)


@pytest.fixture(scope="module")
def own_redis() -> Iterator[redis.Redis]:
    client: redis.Redis = redis.Redis.from_url(REDIS_URL)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


@pytest.fixture(scope="module")
def started(
    module_database: str,
    own_redis: redis.Redis,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Started]:
    env = serve_env(module_database, TENURE_REDIS_URL=REDIS_URL)
    key = create_workspace(env)  # migrates the database, so both may start at once
    with services(tmp_path_factory.mktemp("arq")) as make:
        server = make("serve", env).start()
        worker = make("worker", env).start()
        result = Started(server, worker, module_database, key, own_redis)
        server.wait_ready()
        result.wait_worker_polling()
        yield result


class TestServeAndWorker:
    def test_events_become_a_stored_score_open_signals_and_succeeded_jobs(
        self, started: Started
    ) -> None:
        with started.api() as http:
            assert_the_story_plays_out(http, started.logs)

    def test_an_event_becomes_the_owners_task_within_seconds(self, started: Started) -> None:
        with started.api() as http:
            assert_events_become_tasks_within_seconds(http, started.logs, "serve + worker")

    async def test_sigterm_stops_each_cleanly_and_restarts_run_what_waited(
        self, started: Started
    ) -> None:
        # The worker stops: what the API takes meanwhile waits in arq for the next worker.
        started.worker.assert_stops_cleanly()
        assert not started.redis.exists(HEALTH_KEY)
        with started.api() as http:
            queued = create_client_going_quiet(http)
            wait_until(
                lambda: {j["status"] for j in http.get("/v1/jobs").json()["data"]} >= {"enqueued"},
                seconds=CATCH_UP_SECONDS,
                explain=started.logs,
            )

        # The API stops too: what is written now waits, pending, in the outbox.
        started.server.assert_stops_cleanly()
        offline = await create_client_going_quiet_offline(started.database_url, started.key)

        # Both start again: every row runs, and both stop cleanly once more.
        started.server.start()
        started.worker.start()
        started.server.wait_ready()
        started.wait_worker_polling()
        with started.api() as http:
            for client_id in (queued, offline):
                wait_caught_up(http, client_id, started.logs)
        started.worker.assert_stops_cleanly()
        started.server.assert_stops_cleanly()
