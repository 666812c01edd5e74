"""The purge job, run as a real arq job by a real worker on real Redis."""

import uuid
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from arq.connections import ArqRedis
from arq.worker import Worker
from fastapi import FastAPI

from app.config import Settings
from app.db.models import IdempotencyRecord
from app.workers.registry import PURGE_IDEMPOTENCY
from app.workers.settings import QUEUE_NAME, worker_options
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


class TestPurgeIdempotencyRecords:
    async def test_worker_removes_only_expired_records(
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

        job = await arq_pool.enqueue_job(PURGE_IDEMPOTENCY.name, _queue_name=QUEUE_NAME)
        assert job is not None
        worker = Worker(
            **{**worker_options(settings, redis_url), "cron_jobs": None},
            burst=True,
            handle_signals=False,
        )
        try:
            await worker.main()
        finally:
            await worker.close()

        assert await job.result(timeout=5) == 1
        assert await _keys(app) == {"fresh"}
