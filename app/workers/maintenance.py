"""Housekeeping jobs."""

from datetime import timedelta
from typing import Any

from app.db.repositories.integrations import IntegrationCallRepository
from app.db.repositories.outbox import OutboxRepository
from app.services.idempotency import purge_expired
from app.workers.job import JobRun


async def purge_expired_records(run: JobRun) -> dict[str, Any]:
    """Idempotency keys are promised for 24 h, succeeded jobs kept for a week and provider
    calls for a month; older ones only cost space. Failed jobs stay until someone retries
    them."""
    keys = await purge_expired(run.session, run.now)
    retention = timedelta(days=run.settings.job_retention_days)
    jobs = await OutboxRepository(run.session).purge_succeeded(run.now - retention)
    call_retention = timedelta(days=run.settings.integration_call_retention_days)
    calls = await IntegrationCallRepository(run.session).purge_before(run.now - call_retention)
    return {"idempotency_keys": keys, "jobs": jobs, "integration_calls": calls}
