"""Shared building blocks of request and response bodies."""

import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, ClassVar, Generic, TypeVar

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    StringConstraints,
    WithJsonSchema,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.domain.limits import (
    MAX_BODY_DEPTH,
    MAX_JSON_DEPTH,
    JsonFault,
    date_fault,
    json_fault,
    time_fault,
)

T = TypeVar("T")

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
ExternalId = Annotated[str, StringConstraints(min_length=1, max_length=255, pattern=r"^\S(.*\S)?$")]
Email = Annotated[str, StringConstraints(max_length=320, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
AMOUNT_PATTERN = r"^\d{1,14}(\.\d{1,4})?$"


def _amount_from_string(value: Any) -> Any:
    """Money travels as a string so no float ever rounds it."""
    if not isinstance(value, str | Decimal):
        raise ValueError('amount must be a decimal string such as "1250.00"')
    return value


AMOUNT_SCHEMA = {"type": "string", "pattern": AMOUNT_PATTERN, "examples": ["1250.00"]}
CENTS = Decimal("0.01")


def format_amount(value: Decimal) -> str:
    """At least two decimal places, more only when the amount has them."""
    return str(value.quantize(CENTS) if value == value.quantize(CENTS) else value.normalize())


Amount = Annotated[
    Decimal,
    BeforeValidator(_amount_from_string),
    Field(max_digits=18, decimal_places=4, ge=0),
    PlainSerializer(format_amount, return_type=str, when_used="json"),
    WithJsonSchema(AMOUNT_SCHEMA),
]


ISO_DATE_PREFIX = re.compile(r"^\d{4}-\d{2}-\d{2}")


def _iso_8601_text(value: Any) -> Any:
    """Pydantic would read `0` or "0" as a Unix timestamp; dates here are ISO 8601 text."""
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not ISO_DATE_PREFIX.match(value):
        raise ValueError("must be an ISO 8601 date or date-time string")
    return value


def refusal(fault: JsonFault) -> PydanticCustomError:
    """A domain limit's fault as a validation error with its own type."""
    return PydanticCustomError(fault.code, fault.message)


def _computable_date(value: date) -> date:
    if fault := date_fault(value):
        raise refusal(fault)
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_8601_text), AfterValidator(_computable_date)]


def _to_utc(value: datetime) -> datetime:
    try:
        value = value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset
        raise ValueError("is out of range once converted to UTC") from None
    if fault := time_fault(value):
        raise refusal(fault)
    return value


IsoDateTime = Annotated[AwareDatetime, BeforeValidator(_iso_8601_text), AfterValidator(_to_utc)]


def _bool_text(value: Any) -> Any:
    """Query booleans are `true` or `false`; `0`, `yes` or `on` are refused, not guessed."""
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise ValueError("must be true or false")


QueryBool = Annotated[bool, BeforeValidator(_bool_text)]


def _drop_default(schema: dict[str, Any]) -> None:
    schema.pop("default", None)


def optional(description: str | None = None) -> Any:
    """A PATCH field that may be omitted but, when sent, must not be null."""
    return Field(default=None, description=description, json_schema_extra=_drop_default)


def example(**fields: Any) -> ConfigDict:
    """A model config carrying one example for the OpenAPI document."""
    return ConfigDict(json_schema_extra={"examples": [fields]})


EXAMPLE_TIME = "2026-11-02T09:30:00Z"
EXAMPLE_ID = "4b6a4e0c-3d5e-4c07-9a53-7d2f1c9e8a10"


def _storable_json(value: dict[str, Any]) -> dict[str, Any]:
    if fault := json_fault(value, MAX_JSON_DEPTH):
        raise refusal(fault)
    return value


JSON_LIMITS_DOC = (
    f"Nests at most {MAX_JSON_DEPTH} levels (the object itself is the first); text is valid "
    "Unicode without NUL (no lone surrogates); numbers are finite and fit a 64-bit float."
)
JsonObject = Annotated[dict[str, Any], AfterValidator(_storable_json)]
"""A free-form JSON object from a client: every one goes through this type, so what is
accepted can always be stored and read back."""


class InputModel(BaseModel):
    """Every request body. The whole body is checked first, without recursion, so nesting
    hundreds of levels deep, lone surrogates or out-of-range numbers anywhere (unknown keys
    included) are refused before any field is read or echoed in an error."""

    model_config = ConfigDict(extra="forbid")
    items_checked_one_by_one: ClassVar[str | None] = None
    """A batch's list of items, left out here: each item is checked as it is parsed, so bad
    text rejects only its own item."""

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        whole = data
        if cls.items_checked_one_by_one is not None and isinstance(data, dict):
            whole = {k: v for k, v in data.items() if k != cls.items_checked_one_by_one}
        if fault := json_fault(whole, MAX_BODY_DEPTH):
            raise refusal(fault)
        return data


class Paginated(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    has_more: bool
