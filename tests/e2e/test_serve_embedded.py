"""`tenure serve` in its default, embedded mode (no Redis: it runs the jobs itself), started
as a user starts it, on a database of its own (SQLite, or PostgreSQL on that run)."""

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest

from tests.e2e.processes import Service, api, create_workspace, serve_env, services
from tests.e2e.story import (
    assert_events_become_tasks_within_seconds,
    assert_the_story_plays_out,
    create_client_going_quiet_offline,
    wait_caught_up,
)


@dataclass
class Started:
    server: Service
    database_url: str
    key: str

    def api(self) -> httpx.Client:
        return api(self.server.base_url, self.key)


@pytest.fixture(scope="module")
def started(module_database: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Started]:
    env = serve_env(module_database)
    key = create_workspace(env)
    with services(tmp_path_factory.mktemp("serve")) as make:
        server = make("serve", env).start().wait_ready()
        yield Started(server, module_database, key)


class TestEmbeddedServe:
    def test_events_become_a_stored_score_open_signals_and_succeeded_jobs(
        self, started: Started
    ) -> None:
        with started.api() as http:
            assert_the_story_plays_out(http, started.server.log)
        assert started.server.process is not None
        assert started.server.process.poll() is None

    def test_an_event_becomes_the_owners_task_within_seconds(self, started: Started) -> None:
        with started.api() as http:
            assert_events_become_tasks_within_seconds(http, started.server.log, "embedded")

    def test_fifty_immediate_retries_with_one_idempotency_key_are_all_replays(
        self, started: Started
    ) -> None:
        body = {"name": "Vandelay Industries", "tier": "smb"}
        headers = {"Idempotency-Key": "e2e-back-to-back"}
        with started.api() as http:
            first = http.post("/v1/clients", json=body, headers=headers)
            assert first.status_code == 201, first.text
            retries = [http.post("/v1/clients", json=body, headers=headers) for _ in range(50)]
        assert [(r.status_code, r.headers.get("Idempotent-Replayed")) for r in retries] == [
            (201, "true")
        ] * 50, [r.text for r in retries if r.status_code != 201]
        assert {r.json()["id"] for r in retries} == {first.json()["id"]}

    async def test_sigterm_exits_cleanly_and_a_restart_runs_the_rows_left_pending(
        self, started: Started
    ) -> None:
        started.server.assert_stops_cleanly()
        client_id = await create_client_going_quiet_offline(started.database_url, started.key)

        started.server.start().wait_ready()
        with started.api() as http:
            wait_caught_up(http, client_id, started.server.log)
        started.server.assert_stops_cleanly()
