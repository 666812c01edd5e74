import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.api.rest.schemas.common import EXAMPLE_ID, EXAMPLE_TIME, Paginated, example


class CrmSyncRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        integration_id=EXAMPLE_ID,
        status="running",
        object="companies",
        counts={"owners_created": 3, "companies_created": 100, "pages": 2},
        error=None,
        started_at=EXAMPLE_TIME,
        finished_at=None,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    integration_id: uuid.UUID
    status: str = Field(description="`queued`, `running`, `succeeded` or `failed`.")
    object: str | None = Field(
        description="What it imports now: `owners`, then `companies`, then `contacts`."
    )
    counts: dict[str, int] = Field(
        description="Records per object and outcome (`companies_created`, `contacts_updated`, "
        "`owners_matched`, `contacts_unlinked`: a contact of no linked company, …) and `pages`."
    )
    error: str | None = Field(
        description="The last failure: while `running`, a try that will be retried."
    )
    started_at: datetime | None
    finished_at: datetime | None
    created_at: datetime
    updated_at: datetime


class CrmSyncPage(Paginated[CrmSyncRead]):
    pass
