"""Health jobs: evaluate the clients a change touched, rescore the portfolio, pass changes on.

Bodies write through `run.session` and only flush: the run commits with its completion."""

import uuid
from typing import Any

from app.db.repositories.health import HealthRepository
from app.services import health
from app.workers.registry import JobRun, PermanentJobError


async def evaluate_clients(run: JobRun) -> dict[str, Any]:
    """`clients.changed` → recompute score and signals of the clients in the payload."""
    if run.workspace_id is None:
        raise PermanentJobError("clients.changed needs a workspace")
    raw = run.payload.get("client_ids")
    if not isinstance(raw, list):
        raise PermanentJobError("payload.client_ids must be a list of client ids")
    try:
        client_ids = [uuid.UUID(str(c)) for c in raw]
    except ValueError as exc:
        raise PermanentJobError(f"payload.client_ids holds a non-id: {exc}") from exc
    result = await health.evaluate_clients(run.session, run.workspace_id, client_ids, run.now)
    return {"clients": result.evaluated, "stored": result.stored}


async def rescore_portfolio(run: JobRun) -> dict[str, Any]:
    """Daily: what no event announces (recency decays, renewals approach), in batches."""
    workspace_ids = (
        [run.workspace_id]
        if run.workspace_id is not None
        else await HealthRepository(run.session).workspace_ids()
    )
    result = await health.rescore_all(run.session, workspace_ids, run.now)
    return {"workspaces": len(workspace_ids), "clients": result.evaluated, "stored": result.stored}


async def notify_health_change(run: JobRun) -> dict[str, Any]:
    """`health.changed` / `signal.*` → triggers and outbound webhooks, when they exist."""
    return {}
