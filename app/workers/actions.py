"""The job that runs one action of a trigger run or a cadence step.

Each action has its own outbox row, so a failing one retries on its own schedule and never
blocks the others. A failed try is recorded on the action run in a short transaction of its
own (the body's work is rolled back first), then the job raises so the outbox retries it
(`TransientJobError`) or fails it for good (`PermanentJobError`)."""

import uuid
from typing import Any

from app.domain.jobs import RetryPolicy
from app.errors import AppError
from app.facts import JobRequest
from app.services.actions import ActionFailed, record_failure, run_action
from app.workers.job import JobRun, PermanentJobError, TransientJobError

ACTION_RETRY = RetryPolicy(max_attempts=6, base_seconds=5.0, cap_seconds=900.0)
"""About half an hour of tries: a provider's outage or a lock, not a bad request."""


async def run(run: JobRun) -> dict[str, Any]:
    """`actions.run`: the row carries `{"action_run_id": ...}`."""
    request = run.fact_as(JobRequest)
    raw = (request.model_extra or {}).get("action_run_id")
    if run.workspace_id is None or not isinstance(raw, str):
        raise PermanentJobError("actions.run needs a workspace and an action_run_id")
    try:
        action_run_id = uuid.UUID(raw)
    except ValueError as exc:
        raise PermanentJobError(f"not an action run id: {raw!r}") from exc
    try:
        return await run_action(
            run.session,
            run.workspace_id,
            action_run_id,
            run.now,
            run.settings,
            attempt=run.attempt,
        )
    except ActionFailed as exc:
        retryable, message, retry_after = exc.retryable, exc.message, exc.retry_after
    except AppError as exc:  # a service refused: the data, not the moment, is wrong
        retryable, message, retry_after = False, exc.detail, None
    except Exception as exc:  # a lost connection, a deadlock: worth another try
        retryable, message, retry_after = True, f"{type(exc).__name__}: {exc}", None
    final = not retryable or ACTION_RETRY.exhausted(run.attempt)
    await run.session.rollback()
    await record_failure(
        run.session, action_run_id, message, run.now, attempt=run.attempt, final=final
    )
    await run.session.commit()
    if final:
        raise PermanentJobError(message)
    raise TransientJobError(message, retry_after=retry_after)
