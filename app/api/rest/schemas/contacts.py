import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StrictBool, StringConstraints

from app.api.rest.schemas.common import Email, InputModel, Name, Paginated, optional

Role = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ContactCreate(InputModel):
    name: Name
    email: Email | None = None
    role: Role | None = None
    is_primary: StrictBool = False


class ContactUpdate(InputModel):
    name: Name = optional()
    email: Email | None = optional()
    role: Role | None = optional()
    is_primary: StrictBool = optional()


class ContactRead(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    name: str
    email: str | None
    role: str | None
    is_primary: bool
    created_at: datetime
    updated_at: datetime


class ContactPage(Paginated[ContactRead]):
    pass
