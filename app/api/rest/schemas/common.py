"""Shared building blocks of request and response bodies."""

import math
import re
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Annotated, Any, Generic, TypeVar

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


IsoDate = Annotated[date, BeforeValidator(_iso_8601_text)]


def _to_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:  # year 1 or 9999 with an offset
        raise ValueError("is out of range once converted to UTC") from None


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


def unstorable(value: Any) -> str | None:
    """Why a JSON value cannot be stored faithfully: PostgreSQL text and jsonb refuse NUL, and
    NaN and Infinity are not JSON (Python's parser reads them anyway)."""
    if isinstance(value, str):
        return "text must not contain NUL (\\u0000) characters" if "\x00" in value else None
    if isinstance(value, float):
        return None if math.isfinite(value) else "numbers must be finite (no NaN or Infinity)"
    if isinstance(value, dict):
        parts: list[Any] = [*value.keys(), *value.values()]
    elif isinstance(value, list):
        parts = value
    else:
        return None
    return next((reason for part in parts if (reason := unstorable(part))), None)


class InputModel(BaseModel):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        if reason := unstorable(data):
            raise ValueError(reason)
        return data


class Paginated(BaseModel, Generic[T]):
    data: list[T]
    next_cursor: str | None = Field(description="Pass as `cursor` for the next page.")
    has_more: bool
