import uuid
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, StringConstraints, WithJsonSchema

from app.api.problems import Problem
from app.api.rest.schemas.clients import ACQUIRED_AT_EDIT_DOC, ATTRIBUTES_DOC, Domain, Word
from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    ExternalId,
    InputModel,
    IsoDateTime,
    JsonObject,
    Name,
    example,
    optional,
)
from app.domain.clients import ClientStatus

MAX_CLIENT_BATCH = 5000


class ClientBatchItem(InputModel):
    """The body of PUT /v1/clients/by-external-id/{external_id}, the external id and the
    client's status included. A field left out keeps its value; `name` is required when the
    client is new."""

    model_config = example(
        external_id="crm-1001",
        name="Globex",
        domain="globex.example",
        tier="enterprise",
        status="churned",
        churned_at=EXAMPLE_TIME,
        churn_reason="budget cut",
    )

    external_id: ExternalId = Field(description="The CRM's id: the client to create or update.")
    name: Name = optional("Required for a new client.")
    domain: Domain | None = optional()
    owner_id: uuid.UUID | None = optional()
    tier: Word | None = optional("One of the workspace's tiers.")
    lifecycle_stage: Word = optional("One of the workspace's stages; a new client's first.")
    acquired_at: IsoDateTime | None = optional(ACQUIRED_AT_EDIT_DOC)
    attributes: JsonObject = optional(ATTRIBUTES_DOC)
    status: ClientStatus = optional(
        "The state to reach: `churned` (with `churned_at`, and `churn_reason` if known) churns "
        "the client or moves its churn; `active` reactivates a churned one."
    )
    churned_at: IsoDateTime = optional(
        "When the client churned (required with status churned): not in the future, not "
        "before a given `acquired_at`; backtests label churn by it."
    )
    churn_reason: Annotated[
        str, StringConstraints(strip_whitespace=True, min_length=1, max_length=1000)
    ] = optional("Why it churned; with status churned.")


def _self_contained(schema: dict[str, Any]) -> dict[str, Any]:
    """WithJsonSchema embeds a schema as it is, so its `#/$defs/...` references would point at
    the root of the OpenAPI document, where nothing is: the definitions are inlined instead."""
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            ref = node.get("$ref", "")
            if ref.startswith("#/$defs/"):
                rest = {k: v for k, v in node.items() if k != "$ref"}
                return {**inline(definitions[ref.removeprefix("#/$defs/")]), **inline(rest)}
            return {k: inline(v) for k, v in node.items()}
        if isinstance(node, list):
            return [inline(v) for v in node]
        return node

    inlined: dict[str, Any] = inline(schema)
    return inlined


CLIENT_ITEM_SCHEMA = _self_contained(ClientBatchItem.model_json_schema())


class ClientBatch(InputModel):
    """Items are checked one by one, so one bad client does not sink the batch."""

    model_config = example(
        clients=[
            {"external_id": "crm-1001", "name": "Globex", "tier": "enterprise"},
            {
                "external_id": "crm-1002",
                "name": "Initech",
                "status": "churned",
                "churned_at": EXAMPLE_TIME,
                "churn_reason": "budget cut",
            },
        ]
    )

    clients: list[Annotated[dict[str, Any], WithJsonSchema(CLIENT_ITEM_SCHEMA)]] = Field(
        min_length=1,
        description=f"1 to {MAX_CLIENT_BATCH} clients; more is refused with 413. One item per "
        "external id: a repeat is rejected (the first item wins).",
    )

    items_checked_one_by_one = "clients"


class ClientBatchItemResult(BaseModel):
    index: int
    status: Literal["created", "updated", "unchanged", "rejected"]
    external_id: str | None = Field(description="The item's external id, when it had one.")
    id: uuid.UUID | None = Field(description="The client created or updated.")
    problem: Problem | None = None


class ClientBatchResult(BaseModel):
    model_config = example(
        created=1,
        updated=1,
        unchanged=0,
        rejected=0,
        results=[
            {
                "index": 0,
                "status": "created",
                "external_id": "crm-1001",
                "id": EXAMPLE_ID,
                "problem": None,
            },
            {
                "index": 1,
                "status": "updated",
                "external_id": "crm-1002",
                "id": EXAMPLE_ID,
                "problem": None,
            },
        ],
    )

    created: int
    updated: int
    unchanged: int
    rejected: int
    results: list[ClientBatchItemResult]


class ClientBatchProblem(Problem):
    """422: the request itself is invalid, or no item could be stored (then `results` says
    why for each)."""

    results: list[ClientBatchItemResult] | None = None
