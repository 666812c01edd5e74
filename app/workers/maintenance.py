"""Housekeeping jobs."""

from datetime import UTC, datetime
from typing import Any

from app.services.idempotency import purge_expired
from app.workers.context import sessionmaker


async def purge_idempotency_records(ctx: dict[str, Any]) -> int:
    """Idempotency keys are promised for 24 h; older ones only cost space."""
    async with sessionmaker(ctx)() as session:
        return await purge_expired(session, datetime.now(UTC))
