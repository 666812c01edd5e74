"""The task job: snoozed tasks wake, overdue ones escalate.

Every minute, so a snooze ends and an escalation lands within a minute of its time; reads
never write, so waking is the job's, not the list's. The body only flushes: the run commits."""

from typing import Any

from app.services import tasks
from app.workers.job import JobRun


async def escalate_overdue(run: JobRun) -> dict[str, Any]:
    """A run addressed to one workspace handles that one; the schedule's handles them all."""
    result = await tasks.run_due(run.session, run.now, run.workspace_id)
    return {"woken": result.woken, "escalated": result.escalated}
