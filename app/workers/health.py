"""Health jobs: evaluate the clients a change touched, rescore the portfolio, pass changes on.

The bodies arrive with the health engine (issue 5); until then they acknowledge their rows."""

from typing import Any

from app.workers.registry import JobRun


async def evaluate_clients(run: JobRun) -> dict[str, Any]:
    """`clients.changed` → recompute score and signals of the clients in the payload."""
    return {"clients": len(run.payload.get("client_ids", []))}


async def rescore_portfolio(run: JobRun) -> dict[str, Any]:
    """Daily: what no event announces (recency decays, renewals approach)."""
    return {}


async def notify_health_change(run: JobRun) -> dict[str, Any]:
    """`health.changed` / `signal.*` → triggers and outbound webhooks, when they exist."""
    return {}
