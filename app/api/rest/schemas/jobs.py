import uuid
from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from app.api.rest.schemas.common import EXAMPLE_ID, EXAMPLE_TIME, Paginated, example
from app.domain.jobs import JobStatus


class JobRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        kind="clients.changed",
        job="clients.evaluate",
        fact_id=EXAMPLE_ID,
        status="failed",
        attempts=5,
        max_attempts=5,
        last_error="TimeoutError: the CRM did not answer within 10 s",
        payload={"client_ids": [EXAMPLE_ID]},
        created_at=EXAMPLE_TIME,
        available_at=EXAMPLE_TIME,
        started_at=EXAMPLE_TIME,
        finished_at=EXAMPLE_TIME,
    )

    id: uuid.UUID = Field(description="The outbox row; also the id to retry it by.")
    kind: str = Field(description="What happened (`clients.changed`), or the scheduled job.")
    job: str | None = Field(
        description="The job that runs this row. A fact reaches every job that consumes its "
        "kind, each through a row of its own; null while the fact waits to be fanned out, or "
        "when no job consumes it."
    )
    fact_id: uuid.UUID | None = Field(
        description="The fact this row serves, shared by all of its consumers' rows."
    )
    status: JobStatus
    attempts: int = Field(description="Runs started so far (a manual retry starts again at 0).")
    max_attempts: int | None
    last_error: str | None = Field(description="The latest failure, kept after a success.")
    payload: dict[str, Any]
    created_at: datetime = Field(description="When the change that caused it was committed.")
    available_at: datetime = Field(description="Due time; after a failure, the next try.")
    started_at: datetime | None
    finished_at: datetime | None


class JobPage(Paginated[JobRead]):
    pass
