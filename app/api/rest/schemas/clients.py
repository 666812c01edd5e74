import uuid
from datetime import date, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import BaseModel, Field, PlainSerializer, StringConstraints, WithJsonSchema

from app.api.rest.schemas.common import (
    AMOUNT_SCHEMA,
    EXAMPLE_ID,
    EXAMPLE_TIME,
    JSON_LIMITS_DOC,
    ExternalId,
    InputModel,
    IsoDateTime,
    JsonObject,
    Name,
    Paginated,
    example,
    format_amount,
    optional,
)
from app.domain.clients import AcquiredAtSource

Domain = Annotated[
    str,
    StringConstraints(
        strip_whitespace=True,
        to_lower=True,
        max_length=253,
        pattern=r"^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$",
    ),
]
Word = Annotated[str, StringConstraints(min_length=1, max_length=64)]
# A sum of contract amounts: rendered like `Amount`, but not held to one amount's 18 digits,
# so a large book of business does not fail response validation.
Total = Annotated[
    Decimal,
    PlainSerializer(format_amount, return_type=str, when_used="json"),
    WithJsonSchema(AMOUNT_SCHEMA),
]
ACQUIRED_AT_EDIT_DOC = (
    "A date makes it the caller's word (`acquired_at_source: given`); null forgets it and "
    "derives it from the history again."
)
ATTRIBUTES_DOC = (
    "A free JSON object. On PATCH and PUT it is merged key by key; a key set to null is removed. "
    "The merged object takes at most TENURE_MAX_ATTRIBUTES_BYTES (16,384 by default) bytes of "
    f"UTF-8 JSON. {JSON_LIMITS_DOC}"
)


class ClientCreate(InputModel):
    model_config = example(
        name="Globex",
        external_id="crm-1001",
        domain="globex.example",
        owner_id=EXAMPLE_ID,
        tier="enterprise",
        lifecycle_stage="onboarding",
        attributes={"plan": "scale", "region": "emea"},
    )

    name: Name
    external_id: ExternalId | None = None
    domain: Domain | None = None
    owner_id: uuid.UUID | None = None
    tier: Word | None = Field(default=None, description="One of the workspace's tiers.")
    lifecycle_stage: Word | None = Field(
        default=None, description="One of the workspace's stages; defaults to the first."
    )
    acquired_at: IsoDateTime = optional(
        "When the client was acquired, as the caller's word: it then refuses a churn dated "
        "before it. Leave it out to have it derived: the earliest of the creation and the "
        "client's history (first contract start, first event but our own `email_sent`, churn), "
        "moving earlier as older history arrives."
    )
    attributes: JsonObject = Field(default_factory=dict, description=ATTRIBUTES_DOC)


class ClientUpdate(InputModel):
    model_config = example(lifecycle_stage="adoption", attributes={"plan": "scale", "trial": None})

    name: Name = optional()
    external_id: ExternalId | None = optional()
    domain: Domain | None = optional()
    owner_id: uuid.UUID | None = optional()
    tier: Word | None = optional()
    lifecycle_stage: Word = optional()
    acquired_at: IsoDateTime | None = optional(ACQUIRED_AT_EDIT_DOC)
    attributes: JsonObject = optional(ATTRIBUTES_DOC)


class ClientUpsert(InputModel):
    """The body of PUT by external id: `name` is required when the client is new."""

    model_config = example(name="Globex", domain="globex.example", tier="enterprise")

    name: Name = optional()
    domain: Domain | None = optional()
    owner_id: uuid.UUID | None = optional()
    tier: Word | None = optional()
    lifecycle_stage: Word = optional()
    acquired_at: IsoDateTime | None = optional(ACQUIRED_AT_EDIT_DOC)
    attributes: JsonObject = optional(ATTRIBUTES_DOC)


class ClientChurn(InputModel):
    model_config = example(reason="budget cut", occurred_at=EXAMPLE_TIME)

    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)]
    occurred_at: IsoDateTime | None = Field(
        default=None,
        description="When the client churned (the date backtests label by); defaults to now. "
        "Not in the future, and not before a given `acquired_at`; a derived one moves back to it.",
    )


class ClientRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        name="Globex",
        external_id="crm-1001",
        domain="globex.example",
        owner_id=EXAMPLE_ID,
        tier="enterprise",
        lifecycle_stage="adoption",
        stage_changed_at=EXAMPLE_TIME,
        status="active",
        acquired_at=EXAMPLE_TIME,
        acquired_at_source="given",
        churned_at=None,
        churn_reason=None,
        attributes={"plan": "scale"},
        mrr={"USD": "2500.00"},
        next_renewal_on="2027-12-31",
        last_activity_at=EXAMPLE_TIME,
        last_touchpoint_at=EXAMPLE_TIME,
        open_tickets=1,
        first_escalation_at=None,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    name: str
    external_id: str | None
    domain: str | None
    owner_id: uuid.UUID | None
    tier: str | None
    lifecycle_stage: str
    stage_changed_at: datetime
    status: str = Field(description="`active` or `churned`.")
    acquired_at: datetime | None
    acquired_at_source: AcquiredAtSource = Field(
        description="Why `acquired_at` is what it is: `given` by a caller (it refuses a churn "
        "dated before it); `history`, the earliest fact the client's history shows, before its "
        "creation (first contract start, first event but our own `email_sent`, churn); "
        "`created`, no earlier history, so the moment it was created. Only `given` stays put: "
        "the others move earlier as older history arrives."
    )
    churned_at: datetime | None
    churn_reason: str | None
    attributes: dict[str, Any]
    mrr: dict[str, Total] = Field(
        description="Monthly recurring revenue today, per currency, from live active contracts.",
        examples=[{"USD": "1250.00"}],
    )
    next_renewal_on: date | None = Field(
        description="The nearest end date, today or later, of an active contract."
    )
    last_activity_at: datetime | None = Field(
        description="The latest event that shows the client active (our own outreach excluded)."
    )
    last_touchpoint_at: datetime | None = Field(description="The latest logged touchpoint.")
    open_tickets: int = Field(description="Tickets opened and not resolved since.")
    first_escalation_at: datetime | None = Field(
        description="The first `ticket_escalated` at or after acquisition."
    )
    created_at: datetime
    updated_at: datetime


class StageChangeRead(BaseModel):
    model_config = example(from_stage="onboarding", to_stage="adoption", changed_at=EXAMPLE_TIME)

    from_stage: str | None
    to_stage: str
    changed_at: datetime


class ClientPage(Paginated[ClientRead]):
    pass
