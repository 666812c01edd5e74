"""A job body's input built as an execution builds it: the payload parsed by its kind's model."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.facts import parse
from app.workers.job import JobRun


def job_run(
    session: AsyncSession,
    workspace_id: uuid.UUID | None,
    kind: str,
    payload: dict[str, Any],
    now: datetime,
) -> JobRun:
    return JobRun(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        kind=kind,
        payload=payload,
        attempt=1,
        now=now,
        session=session,
        settings=Settings(),
        fact=parse(kind, payload),
    )
