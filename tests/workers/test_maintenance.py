"""The purge job, run as a real arq job by a real worker on real Redis."""

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from arq.connections import ArqRedis
from arq.worker import Worker
from fastapi import FastAPI

from app.config import Settings
from app.db.models import IdempotencyRecord, Integration, IntegrationCall, OutboxMessage
from app.db.repositories.integrations import IntegrationCallRepository
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.jobs import JobStatus
from app.integrations.base import ProviderCall
from app.workers.redis import QUEUE_NAME
from app.workers.settings import worker_options
from tests.factories import Workspace


async def _record(app: FastAPI, api_key_id: uuid.UUID, key: str, expires_at: datetime) -> None:
    async with app.state.sessionmaker() as session:
        session.add(
            IdempotencyRecord(
                api_key_id=api_key_id, key=key, fingerprint="0" * 64, expires_at=expires_at
            )
        )
        await session.commit()


async def _keys(app: FastAPI) -> set[str]:
    async with app.state.sessionmaker() as session:
        return set((await session.scalars(sa.select(IdempotencyRecord.key))).all())


async def _outbox(app: FastAPI, kind: str, at: datetime) -> uuid.UUID:
    async with app.state.sessionmaker() as session:
        await OutboxRepository(session).add([NewMessage(kind=kind, payload={})], at)
        await session.commit()
        row_id: uuid.UUID | None = await session.scalar(
            sa.select(OutboxMessage.id)
            .where(OutboxMessage.kind == kind)
            .order_by(OutboxMessage.created_at.desc())
        )
        assert row_id is not None
        return row_id


async def _run_burst(settings: Settings, redis_url: str) -> None:
    worker = Worker(
        **{**worker_options(settings, redis_url), "cron_jobs": None},
        burst=True,
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        await worker.close()


class TestPurgeExpiredRecords:
    async def test_worker_removes_expired_keys_and_old_succeeded_jobs_only(
        self,
        app: FastAPI,
        settings: Settings,
        workspace: Workspace,
        arq_pool: ArqRedis,
        redis_url: str,
    ) -> None:
        key_id = workspace.admin_key_id
        now = datetime.now(UTC)
        await _record(app, key_id, "old", now - timedelta(minutes=1))
        await _record(app, key_id, "fresh", now + timedelta(hours=23))
        old_job = await _outbox(app, "cadences.tick", now - timedelta(days=30))
        async with app.state.sessionmaker() as session:
            await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id == old_job)
                .values(status=JobStatus.SUCCEEDED.value, finished_at=now - timedelta(days=30))
            )
            await session.commit()
        purge = await _outbox(app, "maintenance.purge", now)

        job = await arq_pool.enqueue_job("maintenance.purge", str(purge), _queue_name=QUEUE_NAME)
        assert job is not None
        await _run_burst(settings, redis_url)

        assert await job.result(timeout=5) == "succeeded"
        assert await _keys(app) == {"fresh"}
        async with app.state.sessionmaker() as session:
            remaining = {
                row.id: row.status for row in await session.scalars(sa.select(OutboxMessage))
            }
        assert old_job not in remaining
        assert remaining[purge] == JobStatus.SUCCEEDED.value


async def _integration_with_calls(
    app: FastAPI, workspace: Workspace, started: list[datetime]
) -> uuid.UUID:
    async with app.state.sessionmaker() as session:
        integration = Integration(
            workspace_id=workspace.id,
            kind="log",
            name=f"Log {uuid.uuid4().hex[:6]}",
            credentials_encrypted="not read here",
            credential_names=[],
            status="active",
            options={},
        )
        session.add(integration)
        await session.flush()
        await IntegrationCallRepository(session).add_many(
            workspace.id,
            integration.id,
            [
                ProviderCall(
                    operation=f"call-{i}",
                    method="POST",
                    url="http://127.0.0.1/x",
                    started_at=at,
                    latency_ms=1.0,
                    attempt=1,
                    status=202,
                )
                for i, at in enumerate(started)
            ],
        )
        await session.commit()
        return integration.id


class TestIntegrationCallRetention:
    async def test_worker_removes_calls_older_than_the_retention_period_only(
        self,
        app: FastAPI,
        settings: Settings,
        workspace: Workspace,
        arq_pool: ArqRedis,
        redis_url: str,
    ) -> None:
        now = datetime.now(UTC)
        days = settings.integration_call_retention_days
        await _integration_with_calls(
            app,
            workspace,
            [now - timedelta(days=days, hours=1), now - timedelta(days=days - 1), now],
        )
        purge = await _outbox(app, "maintenance.purge", now)

        job = await arq_pool.enqueue_job("maintenance.purge", str(purge), _queue_name=QUEUE_NAME)
        assert job is not None
        await _run_burst(settings, redis_url)

        assert await job.result(timeout=5) == "succeeded"
        async with app.state.sessionmaker() as session:
            kept = set((await session.scalars(sa.select(IntegrationCall.operation))).all())
        assert kept == {"call-1", "call-2"}
