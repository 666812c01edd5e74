import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, StrictBool, StringConstraints

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    Email,
    InputModel,
    Name,
    Paginated,
    example,
    optional,
)

Role = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class ContactCreate(InputModel):
    model_config = example(
        name="Hank Scorpio", email="hank@globex.example", role="CEO", is_primary=True
    )

    name: Name
    email: Email | None = None
    role: Role | None = None
    is_primary: StrictBool = False


class ContactUpdate(InputModel):
    model_config = example(role="Chief Executive Officer")

    name: Name = optional()
    email: Email | None = optional()
    role: Role | None = optional()
    is_primary: StrictBool = optional()


class ContactRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        client_id=EXAMPLE_ID,
        name="Hank Scorpio",
        email="hank@globex.example",
        role="CEO",
        is_primary=True,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

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
