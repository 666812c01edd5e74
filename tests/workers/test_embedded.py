"""Embedded mode (no Redis): the API process runs the jobs of its own outbox."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.jobs import JobStatus
from app.workers.job import Registry
from tests.factories import Workspace, api_client
from tests.workers.conftest import wait_until
from tests.workers.probe import PROBE_KIND, create_probe_client, probe_registry


@pytest.fixture
def embedded_registry() -> Registry:
    return probe_registry()


@pytest.fixture
async def embedded_api(embedded: FastAPI, workspace: Workspace) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(embedded, workspace.admin_key) as client:
        yield client


async def _row(app: FastAPI, kind: str, **payload: object) -> uuid.UUID:
    async with app.state.sessionmaker() as session:
        await OutboxRepository(session).add(
            [NewMessage(kind=kind, payload=dict(payload))], datetime.now(UTC)
        )
        await session.commit()
        row_id = await session.scalar(
            sa.select(OutboxMessage.id)
            .where(OutboxMessage.kind == kind)
            .order_by(OutboxMessage.created_at.desc())
        )
    assert isinstance(row_id, uuid.UUID)
    return row_id


async def _get(app: FastAPI, row_id: uuid.UUID) -> OutboxMessage:
    async with app.state.sessionmaker() as session:
        row: OutboxMessage | None = await session.get(OutboxMessage, row_id)
        assert row is not None
        return row


def _status_is(app: FastAPI, row_id: uuid.UUID, status: JobStatus):  # type: ignore[no-untyped-def]
    async def check() -> bool:
        return (await _get(app, row_id)).status == status.value

    return check


class TestEmbeddedRunner:
    async def test_a_change_made_through_the_api_is_evaluated_within_seconds(
        self, app: FastAPI, embedded_api: httpx.AsyncClient
    ) -> None:
        response = await embedded_api.post("/v1/clients", json={"name": "Quick Co"})
        assert response.status_code == 201, response.text

        async def evaluated() -> bool:
            async with app.state.sessionmaker() as session:
                statuses = await session.scalars(
                    sa.select(OutboxMessage.status).where(OutboxMessage.kind == "clients.changed")
                )
                return list(statuses) == [JobStatus.SUCCEEDED.value]

        await wait_until(evaluated, seconds=5)

    async def test_transient_failures_are_retried_with_backoff(
        self, app: FastAPI, embedded: FastAPI, workspace: Workspace
    ) -> None:
        client_id = await create_probe_client(app, workspace)
        row_id = await _row(app, PROBE_KIND, client_id=str(client_id), fail_attempts=2)

        await wait_until(_status_is(app, row_id, JobStatus.SUCCEEDED), seconds=10)
        row = await _get(app, row_id)
        assert row.attempts == 3
        assert row.last_error == "TransientJobError: probe failure on attempt 2"

    async def test_a_permanent_failure_fails_at_once_and_a_retry_runs_it_again(
        self,
        app: FastAPI,
        embedded: FastAPI,
        embedded_api: httpx.AsyncClient,
        workspace: Workspace,
        tmp_path: Path,
    ) -> None:
        blocker = tmp_path / "blocked"
        blocker.touch()
        client_id = await create_probe_client(app, workspace)
        async with app.state.sessionmaker() as session:
            await OutboxRepository(session).add(
                [
                    NewMessage(
                        kind=PROBE_KIND,
                        payload={"client_id": str(client_id), "fail_while": str(blocker)},
                        workspace_id=workspace.id,
                    )
                ],
                datetime.now(UTC),
            )
            await session.commit()
        (job,) = (await embedded_api.get("/v1/jobs", params={"kind": PROBE_KIND})).json()["data"]
        row_id = uuid.UUID(job["id"])
        await wait_until(_status_is(app, row_id, JobStatus.FAILED), seconds=10)
        failed = (await embedded_api.get(f"/v1/jobs/{row_id}")).json()
        assert failed["attempts"] == 1
        assert failed["last_error"] == "PermanentJobError: the probe refuses for good"

        blocker.unlink()
        retried = await embedded_api.post(f"/v1/jobs/{row_id}/retry")
        assert retried.status_code == 200, retried.text
        await wait_until(_status_is(app, row_id, JobStatus.SUCCEEDED), seconds=10)
        assert (await _get(app, row_id)).attempts == 1

    async def test_a_kind_no_job_consumes_waits_with_its_reason(
        self, app: FastAPI, embedded: FastAPI
    ) -> None:
        row_id = await _row(app, "future.kind")
        await asyncio.sleep(1.0)
        row = await _get(app, row_id)
        assert row.status == JobStatus.PENDING.value
        assert row.last_error is not None
        assert "no job" in row.last_error
        assert row.available_at > datetime.now(UTC)

    async def test_metrics_count_jobs_and_show_the_queue(
        self, app: FastAPI, embedded: FastAPI, embedded_api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client_id = await create_probe_client(app, workspace)
        row_id = await _row(app, PROBE_KIND, client_id=str(client_id))
        await wait_until(_status_is(app, row_id, JobStatus.SUCCEEDED), seconds=10)

        response = await embedded_api.get("/metrics")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")
        text = response.text
        assert 'tenure_jobs_total{job="probe.count",outcome="succeeded"}' in text
        assert 'tenure_job_commit_to_start_seconds_count{job="probe.count"}' in text
        assert 'tenure_outbox_depth{status="pending"}' in text
        assert "tenure_outbox_oldest_pending_age_seconds" in text
