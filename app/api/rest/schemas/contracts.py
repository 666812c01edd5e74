import uuid
from datetime import date, datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from app.api.rest.schemas.common import Amount, ExternalId, InputModel, Paginated, optional
from app.domain.contracts import ContractStatus

Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO 4217 code.", examples=["USD"]),
]


class ContractCreate(InputModel):
    client_id: uuid.UUID
    external_id: ExternalId | None = None
    starts_on: date
    ends_on: date | None = Field(default=None, description="Last day covered; null = open-ended.")
    amount: Amount = Field(description="Recurring amount per month, as a decimal string.")
    currency: Currency
    status: ContractStatus = ContractStatus.ACTIVE


class ContractUpdate(InputModel):
    external_id: ExternalId | None = optional()
    starts_on: date = optional()
    ends_on: date | None = optional()
    amount: Amount = optional()
    currency: Currency = optional()
    status: ContractStatus = optional()


class ContractRead(BaseModel):
    id: uuid.UUID
    client_id: uuid.UUID
    external_id: str | None
    starts_on: date
    ends_on: date | None
    amount: Amount
    currency: str
    status: ContractStatus
    created_at: datetime
    updated_at: datetime


class ContractPage(Paginated[ContractRead]):
    pass
