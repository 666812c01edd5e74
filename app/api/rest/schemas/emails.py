import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StrictInt, StringConstraints

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    InputModel,
    Paginated,
    example,
    optional,
)
from app.domain.emails import (
    DEFAULT_SETTINGS,
    MAX_ADDRESS,
    MAX_CAP_COUNT,
    MAX_CAP_DAYS,
    EmailStatus,
    SuppressionReason,
    to_document,
)

EMAIL_EXAMPLE = {
    "id": EXAMPLE_ID,
    "client_id": EXAMPLE_ID,
    "contact_id": EXAMPLE_ID,
    "owner_id": EXAMPLE_ID,
    "integration_id": EXAMPLE_ID,
    "template_id": EXAMPLE_ID,
    "task_id": None,
    "action_run_id": EXAMPLE_ID,
    "trigger_id": EXAMPLE_ID,
    "cadence_id": None,
    "to_email": "dana@globex.example",
    "to_name": "Dana Scully",
    "from_email": "success@tenure.example",
    "from_name": "Ada Lovelace",
    "reply_to": "ada@tenure.example",
    "subject": "Checking in, Dana",
    "text_body": "Hi Dana, your team's logins fell this month. Can we help?",
    "html_body": None,
    "status": "sent",
    "status_reason": None,
    "provider_message_id": "14c5d75ce93.dfd.64b469.filter-0001",
    "attempts": 1,
    "sent_at": EXAMPLE_TIME,
    "approved_at": None,
    "created_at": EXAMPLE_TIME,
    "updated_at": EXAMPLE_TIME,
}


class EmailRead(BaseModel):
    model_config = example(**EMAIL_EXAMPLE)

    id: uuid.UUID
    client_id: uuid.UUID
    contact_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    integration_id: uuid.UUID | None
    template_id: uuid.UUID | None
    task_id: uuid.UUID | None = Field(description="The review task holding the draft.")
    action_run_id: uuid.UUID | None
    trigger_id: uuid.UUID | None
    cadence_id: uuid.UUID | None
    to_email: str = Field(description="Lower-cased: the cap and the suppression list compare it.")
    to_name: str | None
    from_email: str | None
    from_name: str | None
    reply_to: str | None
    subject: str
    text_body: str
    html_body: str | None
    status: EmailStatus = Field(
        description=(
            "`draft` (waits for review), `queued` (the send job takes it), `sent`, `failed` "
            "(the provider refused it, or the tries ran out), `suppressed` (a guard refused it: "
            "churned client, suppression list, per-contact cap), `discarded`."
        )
    )
    status_reason: str | None = Field(
        description="Why it is suppressed or failed; on a queued email, the last failed try."
    )
    provider_message_id: str | None = Field(
        description="The provider's id of the message: opens, clicks and replies carry it."
    )
    attempts: int = Field(description="Tries made to send it.")
    sent_at: datetime | None
    approved_at: datetime | None
    created_at: datetime
    updated_at: datetime


class EmailPage(Paginated[EmailRead]):
    pass


Address = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=3, max_length=MAX_ADDRESS)
]


class SuppressionCreate(InputModel):
    model_config = example(email="dana@globex.example", reason="unsubscribe", detail="By phone")

    email: Address = Field(description="Compared without regard to case.")
    reason: SuppressionReason = Field(description="bounce, unsubscribe, complaint or manual.")
    detail: Annotated[str, StringConstraints(max_length=1000)] | None = None


class SuppressionRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        email="dana@globex.example",
        reason="unsubscribe",
        source="api",
        detail="By phone",
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    email: str
    reason: SuppressionReason
    source: str | None = Field(description="Who listed it: `api`, or a provider's webhook.")
    detail: str | None
    created_at: datetime
    updated_at: datetime


class SuppressionPage(Paginated[SuppressionRead]):
    pass


class EmailSettingsRead(BaseModel):
    model_config = example(**to_document(DEFAULT_SETTINGS))

    cap_count: int = Field(
        description="No address gets more than this many Tenure emails (queued or sent) ..."
    )
    cap_days: int = Field(description="... in this many days, across every trigger and cadence.")
    review: bool = Field(
        description="The default of `send_email`'s `review`: emails wait as drafts for approval."
    )


class EmailSettingsUpdate(InputModel):
    model_config = example(cap_count=2, cap_days=14)

    cap_count: Annotated[StrictInt, Field(ge=1, le=MAX_CAP_COUNT)] = optional()
    cap_days: Annotated[StrictInt, Field(ge=1, le=MAX_CAP_DAYS)] = optional()
    review: StrictBool = optional()
