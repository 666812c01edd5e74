import uuid
from typing import Annotated

from fastapi import APIRouter, Query

from app.api.deps import (
    DEFAULT_PAGE_LIMIT,
    AdminPrincipal,
    CursorParam,
    Limit,
    NowDep,
    SessionDep,
)
from app.api.rest.schemas.jobs import JobPage, JobRead
from app.db.models import OutboxMessage
from app.domain.jobs import JobStatus
from app.services import jobs as service
from app.workers.registry import default_registry

router = APIRouter(prefix="/v1/jobs", tags=["jobs"])
StatusFilter = Annotated[
    list[JobStatus] | None, Query(description="Only these statuses; repeat for several.")
]
KindFilter = Annotated[
    list[Annotated[str, Query(max_length=100)]] | None,
    Query(description="Only these kinds (`clients.changed`, a scheduled job's name); repeat."),
]
JobFilter = Annotated[
    list[Annotated[str, Query(max_length=100)]] | None,
    Query(description="Only the rows of these jobs (`clients.evaluate`); repeat for several."),
]


def _read(message: OutboxMessage) -> JobRead:
    job = default_registry().job(message.consumer) if message.consumer else None
    return JobRead(
        id=message.id,
        kind=message.kind,
        job=message.consumer,
        fact_id=message.fact_id,
        status=JobStatus(message.status),
        attempts=message.attempts,
        max_attempts=job.retry.max_attempts if job else None,
        last_error=message.last_error,
        payload=message.payload,
        created_at=message.created_at,
        available_at=message.available_at,
        started_at=message.started_at,
        finished_at=message.finished_at,
    )


@router.get(
    "",
    operation_id="listJobs",
    summary="Background jobs, newest first: what ran, what waits, what failed and why",
)
async def list_jobs(
    session: SessionDep,
    principal: AdminPrincipal,
    status: StatusFilter = None,
    kind: KindFilter = None,
    job: JobFilter = None,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> JobPage:
    page = await service.list_jobs(
        session,
        principal,
        statuses=list(status or ()),
        kinds=list(kind or ()),
        jobs=list(job or ()),
        cursor=cursor,
        limit=limit,
    )
    return JobPage(
        data=[_read(m) for m in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get("/{job_id}", operation_id="getJob", summary="One background job")
async def get_job(job_id: uuid.UUID, session: SessionDep, principal: AdminPrincipal) -> JobRead:
    return _read(await service.get_job(session, principal, job_id))


@router.post(
    "/{job_id}/retry",
    operation_id="retryJob",
    summary="Run a failed job again, with a fresh set of tries",
)
async def retry_job(
    job_id: uuid.UUID, session: SessionDep, principal: AdminPrincipal, now: NowDep
) -> JobRead:
    return _read(await service.retry_job(session, principal, job_id, now))
