import uuid
from datetime import datetime

from pydantic import BaseModel, Field, StrictBool

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    Email,
    ExternalId,
    InputModel,
    Name,
    Paginated,
    example,
    optional,
)


class OwnerCreate(InputModel):
    model_config = example(name="Dana Scully", email="dana@acme.example", external_id="hs-owner-42")

    name: Name
    email: Email
    external_id: ExternalId | None = None
    active: StrictBool = True


class OwnerUpdate(InputModel):
    model_config = example(active=False)

    name: Name = optional()
    email: Email = optional()
    external_id: ExternalId | None = optional()
    active: StrictBool = optional()


class OwnerRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        name="Dana Scully",
        email="dana@acme.example",
        external_id="hs-owner-42",
        active=True,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    name: str
    email: str = Field(description="Stored lower-cased; unique in the workspace.")
    external_id: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class OwnerPage(Paginated[OwnerRead]):
    pass
