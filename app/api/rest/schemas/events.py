import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    BeforeValidator,
    Field,
    Strict,
    StrictBool,
    StringConstraints,
    WithJsonSchema,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from app.api.problems import Problem
from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    JSON_LIMITS_DOC,
    Email,
    ExternalId,
    InputModel,
    IsoDateTime,
    JsonObject,
    Paginated,
    example,
    refusal,
)
from app.domain.events import MAX_PROPERTIES_BYTES
from app.domain.limits import json_size, text_fault

MAX_BATCH = 5000
EventTypeName = Annotated[
    str,
    StringConstraints(max_length=80, pattern=r"^([a-z][a-z_]{0,63}|custom\.[a-z][a-z0-9_]{0,63})$"),
    Field(description="A catalogue type (see GET /v1/event-types) or `custom.<name>`."),
]
Source = Annotated[
    str,
    StringConstraints(pattern=r"^[a-z0-9][a-z0-9_.-]{0,63}$"),
    Field(description="Where the event came from; dedupe keys are per source."),
]
DECIMAL_TEXT = re.compile(r"-?[0-9]{1,30}(\.[0-9]{1,20})?")
"""Money as contracts send it ("11.77"): plain digits, no exponent, so always finite."""


def _decimal_text(value: Any) -> Any:
    """A decimal string is read as the number it spells; anything else as JSON gave it."""
    if not isinstance(value, str):
        return value
    if not DECIMAL_TEXT.fullmatch(value):
        raise PydanticCustomError(
            "decimal_string",
            'value must be a number or a decimal string such as "11.77" (digits, an optional '
            "minus sign and decimal point; no exponent, NaN or Infinity)",
        )
    return float(value)


VALUE_SCHEMA = {
    "anyOf": [
        {"type": "number"},
        {"type": "string", "pattern": f"^{DECIMAL_TEXT.pattern}$", "examples": ["11.77"]},
    ],
    "description": 'A number, or a decimal string such as "11.77" (money as contracts send '
    "it); stored as a 64-bit float either way. The event type's rules apply (GET "
    "/v1/event-types).",
}
Value = Annotated[
    float,
    BeforeValidator(_decimal_text),
    Strict(),
    Field(allow_inf_nan=False),
    WithJsonSchema(VALUE_SCHEMA),
]


class EventIn(InputModel):
    model_config = example(
        client_external_id="crm-1001",
        type="ticket_opened",
        occurred_at=EXAMPLE_TIME,
        properties={"ticket_id": "ZD-4411", "priority": "high"},
        source="zendesk",
        external_id="zd-evt-99812",
    )

    client_id: uuid.UUID | None = Field(default=None, description="This or client_external_id.")
    client_external_id: ExternalId | None = None
    type: EventTypeName
    occurred_at: IsoDateTime = Field(description="At most 5 minutes in the future.")
    value: Value | None = None
    properties: JsonObject = Field(
        default_factory=dict,
        description=f"A JSON object of at most {MAX_PROPERTIES_BYTES} bytes. {JSON_LIMITS_DOC}",
    )
    contact_id: uuid.UUID | None = None
    contact_email: Email | None = Field(
        default=None, description="Matched to a contact of the client; unknown emails are kept out."
    )
    source: Source = "api"
    external_id: ExternalId | None = Field(
        default=None, description="Dedupe key: stored once per workspace and source."
    )

    @model_validator(mode="before")
    @classmethod
    def _storable(cls, data: Any) -> Any:
        """The hot path: top-level text here, before an unknown key is echoed in an error
        (`value` refuses NaN itself, `properties` is a JsonObject)."""
        if isinstance(data, dict):
            for key, value in data.items():
                fault = text_fault(str(key)) or (
                    text_fault(value) if isinstance(value, str) else None
                )
                if fault:
                    raise refusal(fault)
        return data

    @field_validator("properties")
    @classmethod
    def _properties_fit(cls, value: dict[str, Any]) -> dict[str, Any]:
        # JsonObject has refused NaN, NUL and lone surrogates: this measures what remains.
        size = json_size(value)
        if size > MAX_PROPERTIES_BYTES:
            raise ValueError(f"properties take {size} bytes; the limit is {MAX_PROPERTIES_BYTES}")
        return value

    @model_validator(mode="after")
    def _one_client_one_contact(self) -> "EventIn":
        if (self.client_id is None) == (self.client_external_id is None):
            raise ValueError("give exactly one of client_id and client_external_id")
        if self.contact_id is not None and self.contact_email is not None:
            raise ValueError("give at most one of contact_id and contact_email")
        return self


EVENT_ITEM_SCHEMA = EventIn.model_json_schema()


class EventBatch(InputModel):
    """Items are checked one by one, so one bad event does not sink the batch."""

    model_config = example(
        events=[
            {
                "client_external_id": "crm-1001",
                "type": "login",
                "occurred_at": EXAMPLE_TIME,
                "source": "app",
                "external_id": "login-77121",
            },
            {
                "client_external_id": "crm-1001",
                "type": "nps",
                "occurred_at": EXAMPLE_TIME,
                "value": 9,
                "source": "delighted",
                "external_id": "nps-5512",
            },
        ],
        upsert_clients=False,
    )

    events: list[Annotated[dict[str, Any], WithJsonSchema(EVENT_ITEM_SCHEMA)]] = Field(
        min_length=1, description=f"1 to {MAX_BATCH} events; more is refused with 413."
    )
    upsert_clients: StrictBool = Field(
        default=False, description="Create a minimal client for an unknown client_external_id."
    )

    items_checked_one_by_one = "events"


class EventResult(BaseModel):
    index: int
    status: Literal["created", "duplicate", "rejected"]
    id: uuid.UUID | None = Field(description="The stored event (for duplicates: the first one).")
    problem: Problem | None = None


class EventBatchResult(BaseModel):
    model_config = example(
        created=1,
        duplicates=1,
        rejected=0,
        results=[
            {"index": 0, "status": "created", "id": EXAMPLE_ID, "problem": None},
            {"index": 1, "status": "duplicate", "id": EXAMPLE_ID, "problem": None},
        ],
    )

    created: int
    duplicates: int
    rejected: int
    results: list[EventResult]


class EventBatchProblem(Problem):
    """422: the request itself is invalid, or no item could be stored (then `results` says
    why for each)."""

    results: list[EventResult] | None = None


class EventRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        client_id=EXAMPLE_ID,
        type="ticket_opened",
        occurred_at=EXAMPLE_TIME,
        value=None,
        properties={"ticket_id": "ZD-4411"},
        contact_id=None,
        source="zendesk",
        external_id="zd-evt-99812",
        received_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    client_id: uuid.UUID
    type: str
    occurred_at: datetime
    value: float | None
    properties: dict[str, Any]
    contact_id: uuid.UUID | None
    source: str
    external_id: str | None
    received_at: datetime


class EventPage(Paginated[EventRead]):
    pass


class ValueRuleRead(BaseModel):
    required: bool
    minimum: float | None
    maximum: float | None
    integer: bool
    description: str


class PropertyRuleRead(BaseModel):
    name: str
    kind: Literal["string", "number"]
    required: bool
    choices: list[str]
    description: str


class EventTypeRead(BaseModel):
    model_config = example(
        name="nps",
        description="A Net Promoter Score answer.",
        value={"required": True, "minimum": 0, "maximum": 10, "integer": True, "description": ""},
        properties=[],
    )

    name: str
    description: str
    value: ValueRuleRead
    properties: list[PropertyRuleRead]
