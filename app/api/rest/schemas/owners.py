import uuid
from datetime import datetime

from pydantic import BaseModel, Field, StrictBool

from app.api.rest.schemas.common import Email, ExternalId, InputModel, Name, Paginated, optional


class OwnerCreate(InputModel):
    name: Name
    email: Email
    external_id: ExternalId | None = None
    active: StrictBool = True


class OwnerUpdate(InputModel):
    name: Name = optional()
    email: Email = optional()
    external_id: ExternalId | None = optional()
    active: StrictBool = optional()


class OwnerRead(BaseModel):
    id: uuid.UUID
    name: str
    email: str = Field(description="Stored lower-cased; unique in the workspace.")
    external_id: str | None
    active: bool
    created_at: datetime
    updated_at: datetime


class OwnerPage(Paginated[OwnerRead]):
    pass
