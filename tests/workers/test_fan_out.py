"""Facts fan out: each consumer of a kind gets a row of its own, with its own retries and
failure, so one failing consumer never blocks or re-runs another."""

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.config import Settings
from app.db.models import Client, OutboxMessage
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.jobs import JobStatus, OutboxKind
from app.facts import CATALOGUE
from app.workers.execution import JobEnvironment
from app.workers.job import Registry
from app.workers.registry import default_registry
from app.workers.relay import route
from tests.factories import Workspace, api_client
from tests.workers.conftest import WorkerProcesses, api_in_arq_mode, wait_until
from tests.workers.probe import (
    FLAKY_CONSUMER,
    FLAKY_FAILURES,
    STEADY_CONSUMER,
    counting_consumer,
    fan_out_registry,
)

HEALTH_CHANGED = OutboxKind.HEALTH_CHANGED.value


@pytest.fixture
def embedded_registry() -> Registry:
    return fan_out_registry()


async def _rows(app: FastAPI, kind: str) -> list[OutboxMessage]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(OutboxMessage).where(OutboxMessage.kind == kind)
        return list((await session.scalars(stmt)).all())


async def _attributes(app: FastAPI, client_id: str) -> dict[str, object]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(Client.attributes).where(Client.id == uuid.UUID(client_id))
        attributes = await session.scalar(stmt)
    assert attributes is not None
    return dict(attributes)


def _settled(app: FastAPI) -> Callable[[], Awaitable[bool]]:
    """The startup's owed schedule ticks have run: the daily rescore would otherwise race the
    evaluation and announce the client's first score a second time."""

    async def check() -> bool:
        rows = await _rows(app, "health.rescore_portfolio")
        return bool(rows) and all(r.status == JobStatus.SUCCEEDED.value for r in rows)

    return check


PROBES = {STEADY_CONSUMER, FLAKY_CONSUMER}
UNCONSUMED = next(kind for kind in CATALOGUE if not default_registry().consumers(kind))
"""A fact kind no job of the real registry consumes (yet)."""


def _consumers_finished(app: FastAPI) -> Callable[[], Awaitable[bool]]:
    async def check() -> bool:
        rows = [r for r in await _rows(app, HEALTH_CHANGED) if r.consumer in PROBES]
        return len(rows) == 2 and all(r.status == JobStatus.SUCCEEDED.value for r in rows)

    return check


async def _assert_fanned_out_once_each(app: FastAPI, client_id: str) -> None:
    every = {r.consumer: r for r in await _rows(app, HEALTH_CHANGED)}
    # The real consumers (triggers, CRM sync) have their own rows too.
    real = {job.name for job in default_registry().consumers(HEALTH_CHANGED)}
    assert "triggers.evaluate" in real
    assert set(every) == PROBES | real
    rows = {name: row for name, row in every.items() if name in PROBES}
    steady, flaky = rows[STEADY_CONSUMER], rows[FLAKY_CONSUMER]
    assert steady.fact_id == flaky.fact_id is not None
    assert (steady.status, steady.attempts, steady.last_error) == ("succeeded", 1, None)
    assert (flaky.status, flaky.attempts) == ("succeeded", FLAKY_FAILURES + 1)
    assert flaky.last_error == f"TransientJobError: {FLAKY_CONSUMER} fails on attempt 2"
    assert steady.payload == flaky.payload
    attributes = await _attributes(app, client_id)
    assert (attributes[STEADY_CONSUMER], attributes[FLAKY_CONSUMER]) == (1, 1)


class TestEmbeddedFanOut:
    @pytest.fixture
    async def embedded_api(
        self, embedded: FastAPI, workspace: Workspace
    ) -> AsyncIterator[httpx.AsyncClient]:
        async with api_client(embedded, workspace.admin_key) as client:
            yield client

    async def test_a_failing_consumer_is_retried_while_the_other_succeeds_once(
        self, app: FastAPI, embedded_api: httpx.AsyncClient
    ) -> None:
        await wait_until(_settled(app), seconds=15)
        client = (await embedded_api.post("/v1/clients", json={"name": "Fan Co"})).json()
        await wait_until(_consumers_finished(app), seconds=15)
        await _assert_fanned_out_once_each(app, client["id"])
        listed = await embedded_api.get("/v1/jobs", params={"job": FLAKY_CONSUMER})
        (job,) = listed.json()["data"]
        assert (job["kind"], job["job"], job["attempts"]) == (
            HEALTH_CHANGED,
            FLAKY_CONSUMER,
            FLAKY_FAILURES + 1,
        )


class TestWorkerFanOut:
    async def test_a_failing_consumer_is_retried_while_the_other_succeeds_once(
        self,
        app: FastAPI,
        database_url: str,
        workspace: Workspace,
        redis_url: str,
        workers: WorkerProcesses,
    ) -> None:
        workers.start(redis_url, "fan-out")
        await wait_until(_settled(app), seconds=30, explain=workers.logs)
        async with api_in_arq_mode(database_url, redis_url, workspace.admin_key) as api:
            client = (await api.post("/v1/clients", json={"name": "Fan Co"})).json()
            await wait_until(
                _consumers_finished(app),
                seconds=30,
                explain=workers.logs,
            )
        await _assert_fanned_out_once_each(app, client["id"])


def _environment(app: FastAPI, registry: Registry) -> JobEnvironment:
    return JobEnvironment(Settings(), app.state.sessionmaker, registry)


async def _fact(app: FastAPI, kind: str) -> uuid.UUID:
    async with app.state.sessionmaker.begin() as session:
        await OutboxRepository(session).add(
            [NewMessage(kind=kind, payload={"changes": []})], datetime.now(UTC)
        )
    (row,) = await _rows(app, kind)
    return row.id


async def _route_once(app: FastAPI, env: JobEnvironment) -> list[str]:
    async with app.state.sessionmaker.begin() as session:
        outbox = OutboxRepository(session)
        rows = await outbox.due(datetime.now(UTC), 10, set())
        runnable = await route(env, outbox, rows, datetime.now(UTC))
    return sorted(job.name for _, job in runnable)


class TestRouting:
    async def test_a_fact_becomes_one_row_per_consumer_once(self, app: FastAPI) -> None:
        registry = Registry(
            [counting_consumer("probe.one"), counting_consumer("probe.two")],
        ).extended([counting_consumer("probe.three")])
        env = _environment(app, registry)
        fact_id = await _fact(app, HEALTH_CHANGED)
        assert await _route_once(app, env) == ["probe.one", "probe.three", "probe.two"]
        rows = await _rows(app, HEALTH_CHANGED)
        assert sorted((r.consumer or "") for r in rows) == ["probe.one", "probe.three", "probe.two"]
        assert {r.fact_id for r in rows} == {fact_id}
        assert [r.id for r in rows if r.consumer == "probe.one"] == [fact_id]
        # still pending, each row now names its job: routing again writes no further row
        assert await _route_once(app, env) == ["probe.one", "probe.three", "probe.two"]
        assert len(await _rows(app, HEALTH_CHANGED)) == 3

    async def test_a_fact_no_job_consumes_is_finished(self, app: FastAPI) -> None:
        env = _environment(app, default_registry())
        await _fact(app, UNCONSUMED)
        assert await _route_once(app, env) == []
        (row,) = await _rows(app, UNCONSUMED)
        assert (row.status, row.consumer, row.fact_id) == ("succeeded", None, row.id)

    async def test_an_unknown_kind_waits_for_a_process_that_knows_it(self, app: FastAPI) -> None:
        env = _environment(app, default_registry())
        await _fact(app, "future.kind")
        assert await _route_once(app, env) == []
        (row,) = await _rows(app, "future.kind")
        assert row.status == "pending"
        assert row.available_at > datetime.now(UTC)
        assert row.last_error is not None
