"""Cadence jobs: the hourly tick (automatic enrolments brought in line, then the steps that
fell due scheduled as actions, usually a task for the owner), and following clients whose
tier or status changed into and out of the cadences that hold them by rule.

Bodies write through `run.session` and only flush: the run commits with its completion, so a
tick that dies midway fires nothing and the next one starts over."""

from typing import Any

from app.facts import ClientsUpdated
from app.services.cadence_enrolment import follow_clients as follow
from app.services.cadence_tick import run_tick
from app.workers.job import JobRun, PermanentJobError


async def tick(run: JobRun) -> dict[str, Any]:
    """Hourly over every workspace, or one workspace when a request names it."""
    workspace_ids = None if run.workspace_id is None else [run.workspace_id]
    result = await run_tick(run.session, run.now, workspace_ids)
    return result.document()


async def follow_clients(run: JobRun) -> dict[str, Any]:
    """`client.updated` → the clients join the cadences their new tier (or status, stage,
    owner, for a condition) puts them in and leave the ones it takes them out of, within
    seconds rather than at the next tick."""
    if run.workspace_id is None:
        raise PermanentJobError("client.updated needs a workspace")
    fact = run.fact_as(ClientsUpdated)
    client_ids = sorted({change.client_id for change in fact.changes})
    synced = await follow(run.session, run.workspace_id, client_ids, run.now)
    return {"clients": len(client_ids), "enrolled": synced.enrolled, "ended": synced.ended}
