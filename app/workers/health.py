"""Health jobs: evaluate the clients a change touched, rescore the portfolio.

Bodies write through `run.session` and only flush: the run commits with its completion."""

from typing import Any

from app.db.repositories.health import HealthRepository
from app.facts import ClientsChanged
from app.services import health
from app.workers.job import JobRun, PermanentJobError


async def evaluate_clients(run: JobRun) -> dict[str, Any]:
    """`clients.changed` → recompute score and signals of the clients in the fact."""
    if run.workspace_id is None:
        raise PermanentJobError("clients.changed needs a workspace")
    fact = run.fact_as(ClientsChanged)
    result = await health.evaluate_clients(run.session, run.workspace_id, fact.client_ids, run.now)
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
