"""The faults the pipeline must survive, each on real Redis, a real database and real worker
processes: killed mid-job, Redis gone for 30 s, death between commit and enqueue, transient
and permanent failures, concurrent workers and relays, and an embedded-mode restart."""

import asyncio
import signal
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from arq.connections import ArqRedis
from fastapi import FastAPI

from app.config import Settings
from app.db.models import Client, OutboxMessage
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.jobs import JobStatus
from app.main import create_app
from tests.factories import Workspace, create_workspace
from tests.workers.conftest import (
    PROJECT_ROOT,
    PrivateRedis,
    WorkerProcesses,
    api_in_arq_mode,
    wait_until,
)
from tests.workers.probe import (
    PROBE_KIND,
    PROBE_MAX_ATTEMPTS,
    create_probe_client,
    probe_registry,
)


async def _probe_rows(
    app: FastAPI, workspace: Workspace, client_ids: list[uuid.UUID], **payload: Any
) -> list[uuid.UUID]:
    """Commits one probe row per client; nothing in this process relays them."""
    async with app.state.sessionmaker() as session:
        outbox = OutboxRepository(session)
        await outbox.add(
            [
                NewMessage(
                    kind=PROBE_KIND,
                    payload={"client_id": str(client_id), **payload},
                    workspace_id=workspace.id,
                )
                for client_id in client_ids
            ],
            datetime.now(UTC),
        )
        await session.commit()
        rows = await session.scalars(
            sa.select(OutboxMessage.id).where(OutboxMessage.kind == PROBE_KIND)
        )
        return list(rows.all())


async def _rows(app: FastAPI, kind: str | None = None) -> list[OutboxMessage]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(OutboxMessage)
        if kind is not None:
            stmt = stmt.where(OutboxMessage.kind == kind)
        return list((await session.scalars(stmt)).all())


async def _probe_runs(app: FastAPI, client_ids: list[uuid.UUID]) -> dict[uuid.UUID, int]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            sa.select(Client.id, Client.attributes).where(Client.id.in_(client_ids))
        )
        return {row.id: int(row.attributes.get("probe_runs", 0)) for row in rows}


def _all(app: FastAPI, kind: str, status: JobStatus) -> Any:
    async def check() -> bool:
        rows = await _rows(app, kind)
        return bool(rows) and all(row.status == status.value for row in rows)

    return check


def _startup_ticks_done(app: FastAPI) -> Any:
    async def check() -> bool:
        rows = await _rows(app)
        ticks = [row for row in rows if row.kind != PROBE_KIND]
        return bool(ticks) and all(row.status == JobStatus.SUCCEEDED.value for row in ticks)

    return check


class TestWorkerKilledMidJob:
    async def test_the_job_runs_again_and_its_effect_lands_once(
        self,
        app: FastAPI,
        workspace: Workspace,
        redis_url: str,
        workers: WorkerProcesses,
        tmp_path: Path,
    ) -> None:
        client_id = await create_probe_client(app, workspace)
        first = workers.start(redis_url)
        sleep = {"sleep_at": "after", "sleep_seconds": 60, "sleep_marker": str(tmp_path / "m")}
        await _probe_rows(app, workspace, [client_id], **sleep)
        await wait_until(_all(app, PROBE_KIND, JobStatus.RUNNING), seconds=20, explain=workers.logs)
        await asyncio.sleep(0.3)  # the effect is flushed, not committed, when the kill lands

        first.send_signal(signal.SIGKILL)
        first.wait()
        assert await _probe_runs(app, [client_id]) == {client_id: 0}
        workers.start(redis_url)

        await wait_until(
            _all(app, PROBE_KIND, JobStatus.SUCCEEDED), seconds=40, explain=workers.logs
        )
        (row,) = await _rows(app, PROBE_KIND)
        assert row.attempts == 2
        assert await _probe_runs(app, [client_id]) == {client_id: 1}


class TestWorkerStoppedGracefully:
    async def test_sigterm_gives_the_running_job_back_and_another_worker_runs_it(
        self,
        app: FastAPI,
        workspace: Workspace,
        redis_url: str,
        workers: WorkerProcesses,
        tmp_path: Path,
    ) -> None:
        client_id = await create_probe_client(app, workspace)
        first = workers.start(redis_url)
        sleep = {"sleep_at": "before", "sleep_seconds": 60, "sleep_marker": str(tmp_path / "m")}
        await _probe_rows(app, workspace, [client_id], **sleep)
        await wait_until(_all(app, PROBE_KIND, JobStatus.RUNNING), seconds=20, explain=workers.logs)

        first.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(first.wait, 20) == 0, workers.logs()
        (row,) = await _rows(app, PROBE_KIND)
        assert row.status == JobStatus.ENQUEUED.value, workers.logs()  # arq re-queued it
        assert row.attempts == 0  # an interrupted run is not a failed try

        workers.start(redis_url)
        await wait_until(
            _all(app, PROBE_KIND, JobStatus.SUCCEEDED), seconds=30, explain=workers.logs
        )
        assert await _probe_runs(app, [client_id]) == {client_id: 1}


class TestRedisOutage:
    async def test_events_are_accepted_while_redis_is_down_and_all_jobs_run_after(
        self,
        database_url: str,
        app: FastAPI,
        workspace: Workspace,
        private_redis: PrivateRedis,
        workers: WorkerProcesses,
    ) -> None:
        worker = workers.start(private_redis.url)
        async with api_in_arq_mode(database_url, private_redis.url, workspace.admin_key) as api:
            created = await api.post("/v1/clients", json={"name": "Steady Co"})
            assert created.status_code == 201, created.text
            client_id = created.json()["id"]
            await wait_until(
                _all(app, "clients.changed", JobStatus.SUCCEEDED),
                seconds=20,
                explain=workers.logs,
            )

            private_redis.stop()
            accepted = 0
            loop = asyncio.get_running_loop()
            down_until = loop.time() + 30
            while loop.time() < down_until:
                event = {
                    "client_id": client_id,
                    "type": "login",
                    "occurred_at": datetime.now(UTC).isoformat(),
                }
                response = await api.post("/v1/events", json={"events": [event]})
                assert response.status_code == 200, response.text
                accepted += 1
                await asyncio.sleep(1)
            waiting = [r for r in await _rows(app, "clients.changed") if r.status == "pending"]
            assert len(waiting) >= accepted - 1  # the outbox holds the work meanwhile
            private_redis.start()

            await wait_until(
                _all(app, "clients.changed", JobStatus.SUCCEEDED),
                seconds=60,
                explain=workers.logs,
            )
        assert len(await _rows(app, "clients.changed")) == accepted + 1
        assert worker.poll() is None, "the worker must ride out the outage"


class TestDeathBetweenCommitAndEnqueue:
    async def test_a_row_committed_by_a_process_that_died_is_run(
        self,
        database_url: str,
        app: FastAPI,
        workspace: Workspace,
        redis_url: str,
        workers: WorkerProcesses,
    ) -> None:
        client_id = await create_probe_client(app, workspace)
        script = (
            "import asyncio, os, uuid\n"
            "from datetime import UTC, datetime\n"
            "from app.db.repositories.outbox import NewMessage, OutboxRepository\n"
            "from app.db.session import create_engine, create_sessionmaker\n"
            "async def main():\n"
            f"    maker = create_sessionmaker(create_engine({database_url!r}))\n"
            "    async with maker() as session:\n"
            "        await OutboxRepository(session).add([NewMessage(\n"
            f"            kind={PROBE_KIND!r}, payload={{'client_id': {str(client_id)!r}}},\n"
            f"            workspace_id=uuid.UUID({str(workspace.id)!r}))], datetime.now(UTC))\n"
            "        await session.commit()\n"
            "    os._exit(0)  # dies right after the commit, before any relay could move it\n"
            "asyncio.run(main())\n"
        )
        await asyncio.to_thread(
            subprocess.run, [sys.executable, "-c", script], cwd=PROJECT_ROOT, check=True
        )
        (row,) = await _rows(app, PROBE_KIND)
        assert row.status == JobStatus.PENDING.value

        workers.start(redis_url)
        await wait_until(
            _all(app, PROBE_KIND, JobStatus.SUCCEEDED), seconds=20, explain=workers.logs
        )
        assert await _probe_runs(app, [client_id]) == {client_id: 1}

    async def test_a_row_redis_lost_after_enqueue_is_handed_over_again(
        self,
        app: FastAPI,
        workspace: Workspace,
        redis_url: str,
        arq_pool: ArqRedis,
        workers: WorkerProcesses,
    ) -> None:
        client_id = await create_probe_client(app, workspace)
        (row_id,) = await _probe_rows(app, workspace, [client_id])
        async with app.state.sessionmaker() as session:  # enqueued, as far as the row knows
            await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id == row_id)
                .values(status=JobStatus.ENQUEUED.value, enqueued_at=datetime.now(UTC))
            )
            await session.commit()
        await arq_pool.flushdb()  # ...but Redis restarted empty

        workers.start(redis_url)
        await wait_until(
            _all(app, PROBE_KIND, JobStatus.SUCCEEDED), seconds=30, explain=workers.logs
        )
        assert await _probe_runs(app, [client_id]) == {client_id: 1}


class TestFailures:
    async def test_a_transient_error_three_times_then_success(
        self, app: FastAPI, workspace: Workspace, redis_url: str, workers: WorkerProcesses
    ) -> None:
        client_id = await create_probe_client(app, workspace)
        await _probe_rows(app, workspace, [client_id], fail_attempts=3)
        workers.start(redis_url)

        await wait_until(
            _all(app, PROBE_KIND, JobStatus.SUCCEEDED), seconds=30, explain=workers.logs
        )
        (row,) = await _rows(app, PROBE_KIND)
        assert row.attempts == 4
        assert row.last_error == "TransientJobError: probe failure on attempt 3"
        # Each failed attempt rolled back its increment; only the successful one stayed.
        assert await _probe_runs(app, [client_id]) == {client_id: 1}

    async def test_a_job_that_keeps_failing_ends_failed_with_its_error_in_the_api(
        self,
        app: FastAPI,
        workspace: Workspace,
        api: httpx.AsyncClient,
        redis_url: str,
        workers: WorkerProcesses,
    ) -> None:
        client_id = await create_probe_client(app, workspace)
        (row_id,) = await _probe_rows(app, workspace, [client_id], always_fail=True)
        workers.start(redis_url)

        await wait_until(_all(app, PROBE_KIND, JobStatus.FAILED), seconds=30, explain=workers.logs)
        response = await api.get("/v1/jobs", params={"status": "failed"})
        assert response.status_code == 200, response.text
        (job,) = response.json()["data"]
        assert job["id"] == str(row_id)
        assert job["attempts"] == PROBE_MAX_ATTEMPTS
        assert job["last_error"] == (
            f"TransientJobError: probe failure on attempt {PROBE_MAX_ATTEMPTS}"
        )
        assert job["finished_at"] is not None
        assert await _probe_runs(app, [client_id]) == {client_id: 0}


class TestConcurrentWorkersAndRelays:
    async def test_every_row_runs_exactly_once(
        self,
        database_url: str,
        app: FastAPI,
        workspace: Workspace,
        redis_url: str,
        workers: WorkerProcesses,
    ) -> None:
        clients = [await create_probe_client(app, workspace) for _ in range(120)]
        workers.start(redis_url)
        workers.start(redis_url)  # each worker runs a relay too: two relays, two workers
        # Each start runs the schedule ticks it owes (the rescore, the cadence, trigger and
        # task ticks): on SQLite their writes would hold the one write lock while the probes
        # run, and a probe kept waiting past its 3 s timeout is retried, which this test
        # counts. Delivery, not lock contention, is what it is about.
        await wait_until(_startup_ticks_done(app), seconds=60, explain=workers.logs)
        settings = Settings(database_url=database_url, redis_url=redis_url)
        third_relay = create_app(settings, registry=probe_registry())
        async with third_relay.router.lifespan_context(third_relay):
            await _probe_rows(app, workspace, clients)
            await wait_until(
                _all(app, PROBE_KIND, JobStatus.SUCCEEDED), seconds=60, explain=workers.logs
            )

        rows = await _rows(app, PROBE_KIND)
        assert len(rows) == len(clients)
        assert {row.attempts for row in rows} == {1}, [
            (r.attempts, r.last_error, r.generation) for r in rows if r.attempts != 1
        ]
        assert set((await _probe_runs(app, clients)).values()) == {1}


class TestEmbeddedRestart:
    @pytest.fixture
    def embedded(self, database_url: str) -> Settings:
        return Settings(
            database_url=database_url,
            redis_url=None,
            runner_concurrency=1,
            shutdown_grace_seconds=0.5,
        )

    async def test_jobs_pending_at_shutdown_run_after_restart(
        self, app: FastAPI, embedded: Settings, tmp_path: Path
    ) -> None:
        workspace = await create_workspace(app, "Embedded CS")
        slow, *queued = [await create_probe_client(app, workspace) for _ in range(4)]

        first = create_app(embedded, registry=probe_registry())
        async with first.router.lifespan_context(first):
            marker = str(tmp_path / "m")
            sleep = {"sleep_at": "before", "sleep_seconds": 60, "sleep_marker": marker}
            await _probe_rows(app, workspace, [slow], **sleep)
            await wait_until(_all(app, PROBE_KIND, JobStatus.RUNNING), seconds=10)
            await _probe_rows(app, workspace, queued)  # behind the slow one: one at a time
        rows = {row.payload["client_id"]: row for row in await _rows(app, PROBE_KIND)}
        assert {row.status for row in rows.values()} == {JobStatus.PENDING.value}
        assert rows[str(slow)].attempts == 0  # the interrupted run gave its row back
        assert await _probe_runs(app, [slow, *queued]) == dict.fromkeys([slow, *queued], 0)

        second = create_app(
            embedded.model_copy(update={"runner_concurrency": 4}), registry=probe_registry()
        )
        async with second.router.lifespan_context(second):
            await wait_until(_all(app, PROBE_KIND, JobStatus.SUCCEEDED), seconds=90)
        assert await _probe_runs(app, [slow, *queued]) == dict.fromkeys([slow, *queued], 1)
