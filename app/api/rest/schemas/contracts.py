import re
import uuid
from datetime import date, datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StringConstraints, field_validator

from app.api.rest.schemas.common import (
    AMOUNT_PATTERN,
    EXAMPLE_ID,
    EXAMPLE_TIME,
    Amount,
    ExternalId,
    InputModel,
    IsoDate,
    Paginated,
    example,
    optional,
)
from app.domain.contracts import ContractStatus

Currency = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{3}$"),
    Field(description="ISO 4217 code.", examples=["USD"]),
]

AMOUNT_TEXT = re.compile(AMOUNT_PATTERN)


def _amount_text(value: Any) -> Any:
    """Holds input to the documented pattern: Decimal() alone takes "1e3", "1_000" and "-0"."""
    if isinstance(value, str) and not AMOUNT_TEXT.fullmatch(value):
        raise ValueError('amount must be a decimal string such as "1250.00"')
    return value


class ContractCreate(InputModel):
    model_config = example(
        client_id=EXAMPLE_ID,
        external_id="sf-contract-77",
        starts_on="2026-01-01",
        ends_on="2027-12-31",
        amount="2500.00",
        currency="USD",
        status="active",
    )

    client_id: uuid.UUID
    external_id: ExternalId | None = None
    starts_on: IsoDate
    ends_on: IsoDate | None = Field(
        default=None, description="Last day covered; null = open-ended."
    )
    amount: Amount = Field(description="Recurring amount per month, as a decimal string.")
    currency: Currency
    status: ContractStatus = ContractStatus.ACTIVE

    _amount_is_text = field_validator("amount", mode="before")(_amount_text)


class ContractUpdate(InputModel):
    model_config = example(amount="2750.00")

    external_id: ExternalId | None = optional()
    starts_on: IsoDate = optional()
    ends_on: IsoDate | None = optional()
    amount: Amount = optional()
    currency: Currency = optional()
    status: ContractStatus = optional()

    _amount_is_text = field_validator("amount", mode="before")(_amount_text)


class ContractRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        client_id=EXAMPLE_ID,
        external_id="sf-contract-77",
        starts_on="2026-01-01",
        ends_on="2027-12-31",
        amount="2500.00",
        currency="USD",
        status="active",
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

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
