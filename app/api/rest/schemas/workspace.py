import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    InputModel,
    Name,
    Paginated,
    example,
    optional,
)
from app.domain.api_keys import Scope


class WorkspaceRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        name="Acme CS",
        tiers=["enterprise", "mid", "smb"],
        lifecycle_stages=["onboarding", "first_value", "adoption", "renewal", "expansion"],
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    name: str
    tiers: list[str]
    lifecycle_stages: list[str]
    created_at: datetime
    updated_at: datetime


class WorkspaceUpdate(InputModel):
    model_config = example(tiers=["strategic", "enterprise", "mid", "smb"])

    name: Name = optional()
    tiers: list[str] = optional()
    lifecycle_stages: list[str] = optional()


class ApiKeyCreate(InputModel):
    model_config = example(name="HubSpot sync", scopes=["read", "write"])

    name: Name
    scopes: list[Scope] = Field(min_length=1)


API_KEY_EXAMPLE = {
    "id": EXAMPLE_ID,
    "name": "HubSpot sync",
    "prefix": "tnr_Xk3v9Qa1",
    "scopes": ["read", "write"],
    "created_at": EXAMPLE_TIME,
    "last_used_at": None,
    "revoked_at": None,
}


class ApiKeyRead(BaseModel):
    model_config = example(**API_KEY_EXAMPLE)

    id: uuid.UUID
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyPage(Paginated[ApiKeyRead]):
    pass


class ApiKeyCreated(ApiKeyRead):
    model_config = example(**API_KEY_EXAMPLE, api_key="tnr_Xk3v9Qa1…")

    api_key: str = Field(description="The secret, shown this once only.")
