import uuid
from datetime import datetime
from typing import Annotated, Any

from pydantic import BaseModel, Field, StrictBool, StrictInt, StringConstraints

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    JSON_LIMITS_DOC,
    InputModel,
    JsonObject,
    Name,
    Paginated,
    example,
    optional,
)
from app.domain.actions import MAX_ACTIONS, MAX_DELAY_SECONDS
from app.domain.triggers import DEFAULT_FREQUENCY_CAP, MAX_FREQUENCY_CAP

Description = Annotated[str, StringConstraints(max_length=2000)]

WHEN_DOC = (
    "When the trigger looks. `kind` is one of: `health.changed` (a stored score moved); "
    "`health.band_changed` (optional `to` and `from`: band names); `signal.opened`, "
    "`signal.resolved` (optional `signal_kinds`: the catalogue's kinds or `custom.<name>`); "
    "`client.changed` (optional `fields`: `stage`, `tier`, `owner`, `status`; all by default); "
    "`event.ingested` (`event_types`: the events to watch); `contract.ended`; `schedule` "
    "(`cron`: five fields in UTC, such as `0 9 * * mon-fri`, evaluated over the whole "
    "portfolio); `manual` (only `POST /v1/triggers/{id}/run`)."
)
CONDITION_DOC = (
    "Which clients qualify: a JSON tree of `all` / `any` / `not` over leaves "
    "`{field, op, value}` (see `GET /v1/triggers/fields`). Empty or null: every client."
)
ACTIONS_DOC = (
    f"What a firing does, in order (at most {MAX_ACTIONS}), each "
    "`{kind, params, delay_seconds}` with a delay of up to "
    f"{MAX_DELAY_SECONDS // 86400} days. Kinds: `create_task` (params: `title` (required; may "
    "quote `{{client.name}}`, `{{client.external_id}}`, `{{client.tier}}`, "
    "`{{client.lifecycle_stage}}`), `body`, `due_in_days` or `due_in_hours`, `priority`, "
    "`assignment` (`client_owner`, `round_robin`, `least_loaded`), `owner_id`, `channel`); "
    "`set_fields` (`stage`, `tier`, `attributes`, `tags`: `{add, remove}`, kept in "
    "`attributes.tags`); `open_signal` (`kind`: `custom.<name>`, `severity`, `note`); "
    "`resolve_signal` (`kind`); `enroll_cadence` once cadences provide it."
)
CONTROL_DOC = (
    "The control policy: `cooldown_hours` (24; with `once_per_cooldown`), `reentry` "
    "(`once_ever`, `once_per_cooldown` (default), `every_time`), `debounce_seconds` (60: a "
    "burst of changes fires once, at its first), `holdout_percent` (0: a deterministic share of "
    "matching clients is recorded as `held_out` and gets no action, the control group). A "
    "client also has at most the workspace's `max_firings_per_client_per_day` firings a day "
    "across all triggers (`capped`)."
)
WHEN_DOC = f"{WHEN_DOC} {JSON_LIMITS_DOC}"
CONDITION_DOC = f"{CONDITION_DOC} {JSON_LIMITS_DOC}"
ACTIONS_DOC = f"{ACTIONS_DOC} {JSON_LIMITS_DOC}"
CONTROL_DOC = f"{CONTROL_DOC} {JSON_LIMITS_DOC}"
WhenDocument = Annotated[JsonObject, Field(description=WHEN_DOC)]
ConditionDocument = Annotated[JsonObject, Field(description=CONDITION_DOC)]
ActionDocument = Annotated[JsonObject, Field(description=ACTIONS_DOC)]
ControlDocument = Annotated[JsonObject, Field(description=CONTROL_DOC)]
EXAMPLE_WHEN = {"kind": "health.band_changed", "to": ["at_risk"]}
EXAMPLE_CONDITION = {"field": "tier", "op": "eq", "value": "mid"}
EXAMPLE_ACTIONS = [
    {
        "kind": "create_task",
        "params": {
            "title": "{{client.name}} is at risk: call the champion",
            "due_in_days": 2,
            "priority": "high",
        },
        "delay_seconds": 0,
    }
]
EXAMPLE_CONTROL = {
    "cooldown_hours": 24,
    "reentry": "once_per_cooldown",
    "debounce_seconds": 60,
    "holdout_percent": 10.0,
}


class TriggerCreate(InputModel):
    model_config = example(
        name="At risk mid-tier: call",
        when=EXAMPLE_WHEN,
        condition=EXAMPLE_CONDITION,
        actions=EXAMPLE_ACTIONS,
        control=EXAMPLE_CONTROL,
    )

    name: Name
    description: Description | None = None
    enabled: StrictBool = True
    when: WhenDocument
    condition: ConditionDocument | None = None
    actions: list[ActionDocument] = Field(default_factory=list, max_length=50)
    control: ControlDocument | None = None


class TriggerUpdate(InputModel):
    """Name, description and `enabled` change the trigger; `when`, `condition`, `actions` and
    `control` (each replaced whole) make a new version when they change the definition."""

    model_config = example(enabled=False)

    name: Name = optional()
    description: Description | None = None
    enabled: StrictBool = optional(
        "Disabled triggers do not fire; their pending actions are skipped."
    )
    when: WhenDocument = optional(WHEN_DOC)
    condition: ConditionDocument | None = None
    actions: list[ActionDocument] = optional(ACTIONS_DOC)
    control: ControlDocument = optional(CONTROL_DOC)


class TriggerRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        name="At risk mid-tier: call",
        description=None,
        enabled=True,
        version=1,
        when=EXAMPLE_WHEN,
        condition=EXAMPLE_CONDITION,
        actions=EXAMPLE_ACTIONS,
        control=EXAMPLE_CONTROL,
        next_due_at=None,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    name: str
    description: str | None
    enabled: bool
    version: int = Field(description="The current version of the definition.")
    when: dict[str, Any]
    condition: dict[str, Any] = Field(description="Canonical form; `{}` matches every client.")
    actions: list[dict[str, Any]]
    control: dict[str, Any]
    next_due_at: datetime | None = Field(description="Schedules: the next evaluation.")
    created_at: datetime
    updated_at: datetime


class TriggerPage(Paginated[TriggerRead]):
    pass


class TriggerVersionRead(BaseModel):
    model_config = example(
        version=1,
        when=EXAMPLE_WHEN,
        condition=EXAMPLE_CONDITION,
        actions=EXAMPLE_ACTIONS,
        control=EXAMPLE_CONTROL,
        created_at=EXAMPLE_TIME,
    )

    version: int
    when: dict[str, Any]
    condition: dict[str, Any]
    actions: list[dict[str, Any]]
    control: dict[str, Any]
    created_at: datetime


class TriggerPreviewRequest(InputModel):
    """Leave `condition` out to preview the current version; send one to try a draft."""

    model_config = example(condition={"field": "days_since_touchpoint", "op": "gt", "value": 30})

    condition: ConditionDocument | None = None


class MatchingClientRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        name="Globex",
        external_id="crm-0042",
        tier="mid",
        lifecycle_stage="adoption",
        status="active",
        owner_id=None,
    )

    id: uuid.UUID
    name: str
    external_id: str | None
    tier: str | None
    lifecycle_stage: str
    status: str
    owner_id: uuid.UUID | None


class TriggerPreviewRead(Paginated[MatchingClientRead]):
    version: int = Field(description="The version whose condition was evaluated.")


class TriggerRunRequest(InputModel):
    model_config = example(client_ids=[EXAMPLE_ID], force=False)

    client_ids: list[uuid.UUID] = Field(min_length=1, max_length=100)
    force: StrictBool = Field(
        default=False,
        description="Skip the condition and the control policy (cooldown, re-entry, debounce, "
        "cap and holdout): fire for each client now.",
    )


class ManualResultRead(BaseModel):
    model_config = example(
        client_id=EXAMPLE_ID,
        matched=True,
        outcome="fired",
        trigger_run_id=EXAMPLE_ID,
        detail=None,
    )

    client_id: uuid.UUID
    matched: bool = Field(description="Whether the condition held (always true with force).")
    outcome: str | None = Field(description="The decision, as in trigger runs; null unmatched.")
    trigger_run_id: uuid.UUID | None
    detail: str | None


class TriggerRunResultRead(BaseModel):
    model_config = example(
        trigger_id=EXAMPLE_ID,
        version=1,
        results=[
            {
                "client_id": EXAMPLE_ID,
                "matched": True,
                "outcome": "fired",
                "trigger_run_id": EXAMPLE_ID,
                "detail": None,
            }
        ],
    )

    trigger_id: uuid.UUID
    version: int
    results: list[ManualResultRead]


class ActionRunRead(BaseModel):
    id: uuid.UUID
    kind: str
    position: int
    params: dict[str, Any]
    due_at: datetime
    status: str = Field(description="`pending`, `succeeded`, `failed` or `skipped`.")
    attempts: int
    result: dict[str, Any] | None
    error: str | None = Field(description="The last failure; kept while it is retried.")
    finished_at: datetime | None


class TriggerRunRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        trigger_id=EXAMPLE_ID,
        trigger_version=1,
        client_id=EXAMPLE_ID,
        fact_kind="health.changed",
        fact_id=EXAMPLE_ID,
        signal_id=None,
        outcome="fired",
        holdout=False,
        detail=None,
        condition_values={"tier": "mid"},
        created_at=EXAMPLE_TIME,
        actions=[],
    )

    id: uuid.UUID
    trigger_id: uuid.UUID
    trigger_version: int
    client_id: uuid.UUID
    fact_kind: str = Field(description="What woke it: a fact kind, `schedule` or `manual`.")
    fact_id: uuid.UUID | None = Field(description="The fact (as in `GET /v1/jobs`), if any.")
    signal_id: uuid.UUID | None
    outcome: str = Field(
        description="`fired`, `held_out` (the control group: no actions), `debounced`, "
        "`cooled_down`, `already_fired` (once_ever) or `capped` (the daily cap)."
    )
    holdout: bool
    detail: str | None
    condition_values: dict[str, Any] = Field(description="Each field the condition read.")
    created_at: datetime
    actions: list[ActionRunRead]


class TriggerRunPage(Paginated[TriggerRunRead]):
    pass


class TriggerSettingsRead(BaseModel):
    model_config = example(max_firings_per_client_per_day=DEFAULT_FREQUENCY_CAP)

    max_firings_per_client_per_day: int = Field(
        description="Firings per client in any 24 hours, across all triggers."
    )


class TriggerSettingsUpdate(InputModel):
    model_config = example(max_firings_per_client_per_day=5)

    max_firings_per_client_per_day: StrictInt = Field(ge=1, le=MAX_FREQUENCY_CAP)


class ConditionFieldRead(BaseModel):
    model_config = example(
        field="days_since_touchpoint",
        type="integer",
        nullable=True,
        ops=["eq", "ne", "lt", "lte", "gt", "gte", "exists", "not_exists"],
        params=[],
        description="Whole days since the last logged touchpoint; null without one.",
    )

    field: str
    type: str
    nullable: bool
    ops: list[str]
    params: list[str]
    description: str
