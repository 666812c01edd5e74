"""CRM sync jobs: the standing push of health changes, task mirroring and completion read-back,
and the paged pull.

Every job that calls the CRM does so through one connection whose calls are buffered: on
success they are stored with the job's writes; on failure the job's writes are rolled back, the
calls (and a renewed Salesforce token) are stored alone, and the job retries (`retryable`,
honouring the provider's Retry-After) or fails for good."""

import uuid
from collections.abc import Awaitable, Callable
from typing import Any, NoReturn, TypeVar

from app.domain.crm import reads_due
from app.domain.jobs import RetryPolicy
from app.facts import HealthChanged, JobRequest, TasksCreated
from app.integrations.base import CrmProvider, ProviderError
from app.integrations.credentials import CredentialsUnreadable
from app.services import crm_push, crm_sync, crm_tasks
from app.services.integration_connections import Connection, NoIntegration, crm_connection
from app.workers.job import JobRun, PermanentJobError, TransientJobError

T = TypeVar("T")

CRM_RETRY = RetryPolicy(max_attempts=10, base_seconds=5.0, cap_seconds=600.0)
"""About an hour of tries: a CRM's outage or its rate limit, not a bad request."""
STALE_PENDING_SECONDS = 600
"""A link waiting this long had its push fail for good or lost: `crm.tick` asks again."""


# --- push ------------------------------------------------------------------------------------


async def note_health_changes(run: JobRun) -> dict[str, Any]:
    """`crm.note_health` consumes `health.changed`: marks the links worth a push."""
    fact = run.fact_as(HealthChanged)
    workspace_id = _workspace(run)
    noted = await crm_push.note_health_changes(run.session, workspace_id, fact.changes, run.now)
    return noted.document()


async def push(run: JobRun) -> dict[str, Any]:
    """`crm.push`: one batch of an integration's waiting clients."""
    workspace_id = _workspace(run)
    integration_id = _id(run, "integration_id")
    connection = await _connect(run, workspace_id, integration_id)
    if connection is None:
        return {"skipped": "the integration is gone, disabled or not a CRM"}
    integration = connection.integration

    async def work() -> dict[str, Any]:
        pushed = await crm_push.push_pending(
            run.session, connection.provider, integration, run.now, run_id=run.id
        )
        return pushed.document()

    async def failed(message: str, final: bool) -> None:
        if final:
            await crm_push.record_failure(run.session, integration_id, message, run.now)

    return await _calling(run, connection, work, on_failure=failed)


# --- tasks -------------------------------------------------------------------------------------


async def request_mirrors(run: JobRun) -> dict[str, Any]:
    """`crm.mirror_tasks` consumes `task.created`: one mirror job per task and CRM."""
    fact = run.fact_as(TasksCreated)
    asked = await crm_tasks.request_mirrors(run.session, _workspace(run), fact.tasks, run.now)
    return {"requested": asked}


async def mirror_task(run: JobRun) -> dict[str, Any]:
    """`crm.mirror_task`: one Tenure task as a CRM task on its client's company/account."""
    workspace_id = _workspace(run)
    integration_id = _id(run, "integration_id")
    task_id = _id(run, "task_id")
    connection = await _connect(run, workspace_id, integration_id)
    if connection is None:
        return {"skipped": "the integration is gone, disabled or not a CRM"}
    integration = connection.integration

    async def work() -> dict[str, Any]:
        record_id = await crm_tasks.mirror_task(
            run.session, connection.provider, integration, task_id, run.now
        )
        return {"record_id": record_id}

    return await _calling(run, connection, work)


async def read_tasks(run: JobRun) -> dict[str, Any]:
    """`crm.read_tasks`: the open mirrors' states; the CRM's completions complete Tenure's."""
    workspace_id = _workspace(run)
    integration_id = _id(run, "integration_id")
    connection = await _connect(run, workspace_id, integration_id)
    if connection is None:
        return {"skipped": "the integration is gone, disabled or not a CRM"}
    integration = connection.integration

    async def work() -> dict[str, Any]:
        read = await crm_tasks.read_completions(
            run.session, connection.provider, integration, run.now
        )
        return read.document()

    return await _calling(run, connection, work)


async def tick(run: JobRun) -> dict[str, Any]:
    """`crm.tick`, every few minutes: a completion read per integration with open mirrors,
    and the push asked for again where links wait too long (a push failed for good, or the
    integration was disabled for a while)."""
    request = run.fact_as(JobRequest)
    moment = request.tick or run.now
    reads = await crm_tasks.request_reads(run.session, moment, run.now) if reads_due(moment) else 0
    stale = await crm_push.stale_integrations(run.session, run.now, STALE_PENDING_SECONDS)
    for workspace_id, integration_id in stale:
        await crm_push.request_push(
            run.session,
            workspace_id,
            integration_id,
            run.now,
            run.now,
            dedupe_key=f"{crm_push.PUSH_JOB}:{integration_id}:tick:{moment.isoformat()}",
        )
    return {"reads": reads, "pushes": len(stale)}


# --- pull --------------------------------------------------------------------------------------


async def sync(run: JobRun) -> dict[str, Any]:
    """`crm.sync`: one page of an import; the next page is the next run."""
    workspace_id = _workspace(run)
    sync_id = _id(run, "sync_id")
    row = await crm_sync.load_sync(run.session, workspace_id, sync_id)
    if row is None:
        return {"skipped": "the sync is gone"}
    try:
        connection = await crm_connection(
            run.session, run.settings, workspace_id, row.integration_id
        )
    except (NoIntegration, CredentialsUnreadable) as exc:
        await crm_sync.record_failure(
            run.session, workspace_id, sync_id, str(exc), run.now, final=True
        )
        return {"failed": str(exc)}
    integration = connection.integration

    async def work() -> dict[str, Any]:
        more = await crm_sync.sync_page(
            run.session, connection.provider, integration, row, run.settings, run.now
        )
        return {"object": row.object, "counts": row.counts, "more": more}

    async def failed(message: str, final: bool) -> None:
        await crm_sync.record_failure(
            run.session, workspace_id, sync_id, message, run.now, final=final
        )

    return await _calling(run, connection, work, on_failure=failed)


# --- shared ------------------------------------------------------------------------------------


async def _calling(
    run: JobRun,
    connection: Connection[CrmProvider],
    work: Callable[[], Awaitable[T]],
    *,
    on_failure: Callable[[str, bool], Awaitable[None]] | None = None,
) -> T:
    """Runs `work`; stores the connection's calls whatever happens."""
    try:
        result = await work()
    except ProviderError as exc:
        await _fail(run, connection, exc, on_failure)
    await connection.save(run.session)
    return result


async def _fail(
    run: JobRun,
    connection: Connection[CrmProvider],
    error: ProviderError,
    on_failure: Callable[[str, bool], Awaitable[None]] | None,
) -> NoReturn:
    final = not error.retryable or CRM_RETRY.exhausted(run.attempt)
    await run.session.rollback()
    await connection.save(run.session)
    if on_failure is not None:
        await on_failure(error.message, final)
    await run.session.commit()
    if final:
        raise PermanentJobError(error.message)
    raise TransientJobError(error.message, retry_after=error.retry_after)


async def _connect(
    run: JobRun, workspace_id: uuid.UUID, integration_id: uuid.UUID
) -> Connection[CrmProvider] | None:
    try:
        return await crm_connection(run.session, run.settings, workspace_id, integration_id)
    except NoIntegration:
        return None
    except CredentialsUnreadable as exc:
        raise PermanentJobError(str(exc)) from exc


def _workspace(run: JobRun) -> uuid.UUID:
    if run.workspace_id is None:
        raise PermanentJobError(f"{run.kind} needs a workspace")
    return run.workspace_id


def _id(run: JobRun, name: str) -> uuid.UUID:
    raw = run.payload.get(name)
    try:
        return uuid.UUID(str(raw))
    except ValueError as exc:
        raise PermanentJobError(f"{run.kind} needs `{name}`, got {raw!r}") from exc
