"""Contract jobs: ends that no request announces, because only time passed."""

from typing import Any

from app.services.contracts import announce_expired_contracts
from app.workers.job import JobRun


async def announce_ended(run: JobRun) -> dict[str, Any]:
    """Hourly: contracts past their last day become `contract.ended` facts (debrief tasks)."""
    return {"contracts": await announce_expired_contracts(run.session, run.now)}
