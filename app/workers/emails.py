"""The job that sends one queued email (`emails.send`, its row carries `{"email_id": ...}`),
and with it a batch of the workspace's other queued ones (`send_queued`); only its own email's
failure is handled here, a batch-mate's waits for its own job.

A retryable failure (a timeout, a 5xx, a 429) rolls the run's work back, records the attempt
on the email (and the provider calls made) in a short transaction, and asks for a retry
honouring `Retry-After`. The tries last hours, so a provider's outage delays emails and loses
none; a final failure marks the email `failed` with the provider's reason."""

import uuid
from typing import Any

from app.domain.jobs import RetryPolicy
from app.facts import JobRequest
from app.services.email_sending import SendFailed, record_attempt, send_queued
from app.workers.job import JobRun, PermanentJobError, TransientJobError

EMAIL_RETRY = RetryPolicy(max_attempts=20, base_seconds=5.0, cap_seconds=900.0)
"""Waits of 5 s doubling to 15 min, 20 tries: about three and a half hours of retries."""


async def send(run: JobRun) -> dict[str, Any]:
    request = run.fact_as(JobRequest)
    raw = (request.model_extra or {}).get("email_id")
    if run.workspace_id is None or not isinstance(raw, str):
        raise PermanentJobError("emails.send needs a workspace and an email_id")
    try:
        email_id = uuid.UUID(raw)
    except ValueError as exc:
        raise PermanentJobError(f"not an email id: {raw!r}") from exc
    try:
        delivery = await send_queued(run.session, run.settings, email_id, run.now)
    except SendFailed as failure:
        final = not failure.retryable or EMAIL_RETRY.exhausted(run.attempt)
        await run.session.rollback()
        await record_attempt(run.session, email_id, failure, run.now, final=final)
        await run.session.commit()
        if final:
            raise PermanentJobError(failure.message) from failure
        raise TransientJobError(failure.message, retry_after=failure.retry_after) from failure
    return delivery.document()
