"""The jobs a workspace's changes caused: listed, inspected, and re-run after a failure."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import OutboxMessage
from app.db.repositories.outbox import OutboxDepth, OutboxRepository
from app.db.repositories.paging import Page
from app.domain.api_keys import Principal
from app.domain.jobs import JobStatus
from app.errors import Conflict, NotFound


async def list_jobs(
    session: AsyncSession,
    principal: Principal,
    *,
    statuses: list[JobStatus],
    kinds: list[str],
    jobs: list[str],
    cursor: str | None,
    limit: int,
) -> Page[OutboxMessage]:
    return await OutboxRepository(session).page(
        principal.workspace_id,
        statuses=statuses,
        kinds=kinds,
        jobs=jobs,
        cursor=cursor,
        limit=limit,
    )


async def get_job(session: AsyncSession, principal: Principal, job_id: uuid.UUID) -> OutboxMessage:
    message = await OutboxRepository(session).get(principal.workspace_id, job_id)
    if message is None:
        raise NotFound("job not found")
    return message


async def retry_job(
    session: AsyncSession, principal: Principal, job_id: uuid.UUID, now: datetime
) -> OutboxMessage:
    """Only a failed job: anything else is still on its way, and running it twice is wrong."""
    message = await get_job(session, principal, job_id)
    if message.status != JobStatus.FAILED.value:
        raise Conflict(f"only a failed job can be retried; this one is {message.status}")
    await OutboxRepository(session).requeue_failed(message, now)
    await session.flush()
    return message


async def pipeline_depth(session: AsyncSession, now: datetime) -> OutboxDepth:
    return await OutboxRepository(session).depth(now)
