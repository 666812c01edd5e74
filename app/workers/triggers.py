"""Trigger jobs: `triggers.evaluate` reacts to a fact (each consumer of a fact has its own row)
or to a schedule's request; `triggers.tick` finds the schedules that fell due each minute."""

import uuid
from typing import Any

from app.facts import JobRequest
from app.services import trigger_engine as engine
from app.workers.job import JobRun, PermanentJobError


async def evaluate(run: JobRun) -> dict[str, Any]:
    if run.workspace_id is None:
        raise PermanentJobError(f"{run.kind} needs a workspace")
    if isinstance(run.fact, JobRequest):  # a schedule's turn, requested by the tick
        raw = (run.fact.model_extra or {}).get("trigger_id")
        try:
            trigger_id = uuid.UUID(str(raw))
        except ValueError as exc:
            raise PermanentJobError(f"not a trigger id: {raw!r}") from exc
        summary = await engine.evaluate_schedule(run.session, run.workspace_id, trigger_id, run.now)
        return summary.document()
    wakes = engine.wakes_of(run.fact)
    summary = await engine.evaluate_fact(
        run.session, run.workspace_id, run.kind, run.fact_id, wakes, run.now
    )
    return summary.document()


async def tick(run: JobRun) -> dict[str, Any]:
    """Every minute: the schedule triggers whose cron moment came, each asked to run."""
    return {"requested": await engine.request_due_schedules(run.session, run.now)}
