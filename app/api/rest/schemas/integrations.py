import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    JSON_LIMITS_DOC,
    InputModel,
    Name,
    Paginated,
    example,
    optional,
    refusal,
)
from app.domain.integration_settings import (
    MAX_CREDENTIAL_CHARS,
    MAX_CREDENTIAL_NAME_CHARS,
    MAX_OPTIONS_BYTES,
    describe_fields,
    options_fault,
)
from app.domain.integrations import KINDS, IntegrationKind, Purpose

IntegrationStatus = Literal["active", "disabled"]
CredentialName = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CREDENTIAL_NAME_CHARS)
]
CredentialValue = Annotated[
    str, StringConstraints(min_length=1, max_length=MAX_CREDENTIAL_CHARS), Field(strict=True)
]
KIND_FIELDS = "; ".join(f"`{kind.value}`: {describe_fields(spec)}" for kind, spec in KINDS.items())
CREDENTIALS_DOC = (
    "Write-only: stored encrypted and never returned. Each kind takes its own fields, all "
    f"strings — {KIND_FIELDS}. Unknown fields are refused."
)
Credentials = Annotated[
    dict[CredentialName, CredentialValue],
    Field(max_length=16, description=CREDENTIALS_DOC),
]
BaseUrl = Annotated[
    str,
    StringConstraints(min_length=1, max_length=2048),
    Field(
        description=(
            "Where the provider's API is (a sandbox, a local fake); defaults to the kind's "
            "public API. https and a public host, unless the server allows http on loopback "
            "(`TENURE_ALLOW_LOOPBACK_URLS`). SMTP and `log` take none."
        )
    ),
]


def _bounded_options(value: dict[str, Any]) -> dict[str, Any]:
    if fault := options_fault(value):
        raise refusal(fault)
    return value


OPTIONS_DOC = (
    "Per-kind settings (such as a CRM's field mapping): a JSON object of at most "
    f"{MAX_OPTIONS_BYTES} bytes as compact JSON. {JSON_LIMITS_DOC}"
)
Options = Annotated[dict[str, Any], AfterValidator(_bounded_options)]


class IntegrationCreate(InputModel):
    model_config = example(
        kind="sendgrid",
        name="Main",
        credentials={"api_key": "SG.xxxxxxxx.yyyyyyyy"},
        base_url="https://api.sendgrid.com",
    )

    kind: IntegrationKind
    name: Name
    credentials: Credentials
    base_url: BaseUrl | None = None
    status: IntegrationStatus = "active"
    options: Options = Field(default_factory=dict, description=OPTIONS_DOC)


class IntegrationUpdate(InputModel):
    model_config = example(status="disabled")

    name: Name = optional()
    base_url: BaseUrl | None = Field(default=None, description="null: back to the kind's default.")
    status: IntegrationStatus = optional()
    options: Options = optional(OPTIONS_DOC)
    credentials: Credentials = optional(
        "A full replacement set (fields not sent are dropped). " + CREDENTIALS_DOC
    )


INTEGRATION_EXAMPLE = {
    "id": EXAMPLE_ID,
    "kind": "sendgrid",
    "purpose": "email",
    "name": "Main",
    "base_url": "https://api.sendgrid.com",
    "credential_names": ["api_key"],
    "status": "active",
    "options": {},
    "last_checked_at": EXAMPLE_TIME,
    "last_check_ok": True,
    "last_error": None,
    "created_at": EXAMPLE_TIME,
    "updated_at": EXAMPLE_TIME,
}


class IntegrationRead(BaseModel):
    model_config = example(**INTEGRATION_EXAMPLE)

    id: uuid.UUID
    kind: IntegrationKind
    purpose: Purpose
    name: str
    base_url: str | None
    credential_names: list[str] = Field(
        description="Which credential fields are set; their values are never returned."
    )
    status: IntegrationStatus
    options: dict[str, Any]
    last_checked_at: datetime | None
    last_check_ok: bool | None
    last_error: str | None
    created_at: datetime
    updated_at: datetime


class IntegrationPage(Paginated[IntegrationRead]):
    pass


class IntegrationCheckRead(BaseModel):
    model_config = example(ok=False, detail="401 Unauthorized: the API key was refused")

    ok: bool
    detail: str = Field(description="What the provider said: the account or scopes, or why not.")


class IntegrationCallRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        operation="send_email",
        method="POST",
        url="https://api.sendgrid.com/v3/mail/send",
        status=202,
        latency_ms=84.2,
        attempt=1,
        error=None,
        request_id="14c5d75ce93.dfd.64b469.filter0001.16648.5515E0B88.0",
        started_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    operation: str
    method: str
    url: str = Field(description="Without its query string.")
    status: int | None = Field(description="The HTTP status; null when none came back.")
    latency_ms: float
    attempt: int = Field(description="1 for the first try of a call, 2 for its retry, …")
    error: str | None
    request_id: str | None = Field(description="The provider's id of the request or result.")
    started_at: datetime


class IntegrationCallPage(Paginated[IntegrationCallRead]):
    pass
