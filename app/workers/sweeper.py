"""The sweeper: rows Redis lost or a dead run abandoned go back to the relay."""

import logging
from datetime import timedelta
from typing import Any

from app.db.repositories.outbox import OutboxRepository
from app.workers import metrics
from app.workers.job import JobRun

log = logging.getLogger("tenure.relay")


async def sweep_outbox(run: JobRun) -> dict[str, Any]:
    """Schedule `outbox.sweep`; it runs directly, not through the outbox it repairs."""
    stale = timedelta(seconds=run.settings.outbox_stale_seconds)
    swept = await OutboxRepository(run.session).sweep(run.now, stale)
    metrics.SWEPT.inc(swept)
    if swept:
        log.info("swept stuck outbox rows", extra={"rows": swept})
    return {"swept": swept}
