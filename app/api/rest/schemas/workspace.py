import uuid
from datetime import datetime

from pydantic import BaseModel, Field

from app.api.rest.schemas.common import InputModel, Name, optional
from app.domain.api_keys import Scope


class WorkspaceRead(BaseModel):
    id: uuid.UUID
    name: str
    tiers: list[str]
    lifecycle_stages: list[str]
    created_at: datetime
    updated_at: datetime


class WorkspaceUpdate(InputModel):
    name: Name = optional()
    tiers: list[str] = optional()
    lifecycle_stages: list[str] = optional()


class ApiKeyCreate(InputModel):
    name: Name
    scopes: list[Scope] = Field(min_length=1)


class ApiKeyRead(BaseModel):
    id: uuid.UUID
    name: str
    prefix: str = Field(description="The first characters of the key, to recognise it.")
    scopes: list[Scope]
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


class ApiKeyCreated(ApiKeyRead):
    api_key: str = Field(description="The secret, shown this once only.")
