import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field, Strict, StrictBool, StringConstraints

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
from app.domain.actions import MAX_DELAY_SECONDS
from app.domain.cadences import (
    MAX_CONDITION_BYTES,
    MAX_DAYS,
    MAX_PARAMS_BYTES,
    MAX_STEPS,
    CadenceKind,
    EnrollmentSource,
    EnrollmentStatus,
    ExitReason,
)

Channel = Literal["call", "meeting", "email", "note"]
ALL_CHANNELS: tuple[Channel, ...] = ("call", "meeting", "email", "note")
Tier = Annotated[str, StringConstraints(min_length=1, max_length=64)]
ActionKindName = Annotated[str, StringConstraints(min_length=1, max_length=64)]
Days = Annotated[int, Strict(), Field(ge=0, le=MAX_DAYS)]
IntervalDays = Annotated[int, Strict(), Field(ge=1, le=MAX_DAYS)]
DelaySeconds = Annotated[int, Strict(), Field(ge=0, le=MAX_DELAY_SECONDS)]

CONDITION_DOC = (
    "A condition in the trigger conditions language (`all` / `any` / `not`; `field`, `op`, "
    f"`value`); an empty object is no condition. At most {MAX_CONDITION_BYTES} bytes of "
    f"UTF-8 JSON. {JSON_LIMITS_DOC}"
)
EXAMPLE_STEP = {
    "offset_days": 30,
    "action": {
        "kind": "create_task",
        "params": {"title": "Touch base with {{client.name}}"},
        "delay_seconds": 0,
    },
}
EXAMPLE_CADENCE = {
    "name": "Mid touchpoint every 30 days",
    "kind": "rhythm",
    "tier": "mid",
    "condition": None,
    "interval_days": 30,
    "channels": ["call", "meeting", "email", "note"],
    "steps": [EXAMPLE_STEP],
    "exit": None,
    "enabled": True,
}

ConditionDocument = Annotated[JsonObject, Field(description=CONDITION_DOC)]
"""Nullable where it is used: the limits are stated on the object itself as well."""


class StepActionInput(InputModel):
    kind: ActionKindName = Field(description="An action kind of the registry: `create_task`, …")
    params: JsonObject = Field(
        default_factory=dict,
        description=f"The kind's parameters; at most {MAX_PARAMS_BYTES} bytes of UTF-8 JSON. "
        f"{JSON_LIMITS_DOC}",
    )
    delay_seconds: DelaySeconds = Field(
        default=0, description="Runs this long after the step falls due."
    )


class StepInput(InputModel):
    offset_days: Days = Field(
        description="Days after the anchor (a rhythm: the last qualifying touchpoint or the "
        "enrolment; a sequence: the enrolment); steps keep their spacing from when the "
        "previous one ran."
    )
    action: StepActionInput


class ExitInput(InputModel):
    on_reply: StrictBool = Field(default=True, description="End when an `email_replied` arrives.")
    on_touchpoint: StrictBool = Field(
        default=True, description="End when a touchpoint of a qualifying channel is logged."
    )
    goal: ConditionDocument | None = Field(
        default=None, description=f"End once it holds. {CONDITION_DOC}"
    )


class CadenceCreate(InputModel):
    model_config = example(**{k: v for k, v in EXAMPLE_CADENCE.items() if v is not None})

    name: Name
    kind: CadenceKind = Field(
        default=CadenceKind.RHYTHM,
        description="`rhythm`: repeats, reset by every qualifying touchpoint; `sequence`: "
        "outreach steps that end after the last one or by the exit rules.",
    )
    tier: Tier | None = Field(
        default=None, description="Active clients of this tier are enrolled automatically."
    )
    condition: ConditionDocument | None = Field(
        default=None,
        description=f"Active clients it holds for (within `tier`, when given) are enrolled "
        f"automatically. {CONDITION_DOC}",
    )
    interval_days: IntervalDays | None = Field(
        default=None, description="A rhythm's length: a touchpoint at least this often."
    )
    channels: list[Channel] = Field(
        default_factory=lambda: list(ALL_CHANNELS),
        max_length=4,
        description="The touchpoint channels that reset a rhythm (or end a sequence).",
    )
    steps: list[StepInput] | None = Field(
        default=None,
        max_length=MAX_STEPS,
        description="Omitted for a rhythm: one task for the owner when the interval runs out.",
    )
    exit: ExitInput | None = Field(
        default=None, description="A sequence's exit rules; by default a reply or a touchpoint."
    )
    enabled: StrictBool = True


class CadenceUpdate(InputModel):
    """Any edit moves the version; the kind cannot change."""

    model_config = example(interval_days=21)

    name: Name = optional()
    tier: Tier | None = optional()
    condition: ConditionDocument | None = optional(f"Automatic enrolment. {CONDITION_DOC}")
    interval_days: IntervalDays | None = optional()
    channels: Annotated[list[Channel], Field(max_length=4)] = optional()
    steps: Annotated[list[StepInput], Field(max_length=MAX_STEPS)] = optional()
    exit: ExitInput | None = optional()
    enabled: StrictBool = optional()


class StepActionRead(BaseModel):
    kind: str
    params: dict[str, Any]
    delay_seconds: int


class StepRead(BaseModel):
    offset_days: int
    action: StepActionRead


class ExitRead(BaseModel):
    on_reply: bool
    on_touchpoint: bool
    goal: dict[str, Any] | None


class CadenceRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        **EXAMPLE_CADENCE,
        version=1,
        created_at=EXAMPLE_TIME,
        updated_at=EXAMPLE_TIME,
    )

    id: uuid.UUID
    name: str
    kind: CadenceKind
    tier: str | None
    condition: dict[str, Any] | None
    interval_days: int | None
    channels: list[str]
    steps: list[StepRead]
    exit: ExitRead | None
    enabled: bool
    version: int = Field(description="Moves with every edit.")
    created_at: datetime
    updated_at: datetime


class CadencePage(Paginated[CadenceRead]):
    pass


class EnrollmentCreate(InputModel):
    model_config = example(client_id=EXAMPLE_ID)

    client_id: uuid.UUID


class EnrollmentRead(BaseModel):
    model_config = example(
        id=EXAMPLE_ID,
        cadence_id=EXAMPLE_ID,
        client_id=EXAMPLE_ID,
        status="active",
        source="tier",
        enrolled_at=EXAMPLE_TIME,
        anchor_at=EXAMPLE_TIME,
        next_step=0,
        next_due_at="2026-12-02T09:30:00Z",
        paused=False,
        paused_at=None,
        last_step=None,
        last_step_at=None,
        ended_at=None,
        exit_reason=None,
    )

    id: uuid.UUID
    cadence_id: uuid.UUID
    client_id: uuid.UUID
    status: EnrollmentStatus
    source: EnrollmentSource
    enrolled_at: datetime
    anchor_at: datetime = Field(description="The last qualifying touchpoint, or the enrolment.")
    next_step: int = Field(description="Index of the step that falls due next.")
    next_due_at: datetime | None = Field(description="As of the last tick; null once ended.")
    paused: bool = Field(description="An open task of the cadence holds the clock.")
    paused_at: datetime | None
    last_step: int | None
    last_step_at: datetime | None
    ended_at: datetime | None
    exit_reason: ExitReason | None


class EnrollmentPage(Paginated[EnrollmentRead]):
    pass


class ClientEnrollmentRead(BaseModel):
    enrollment_id: uuid.UUID
    cadence_id: uuid.UUID
    cadence_name: str
    kind: CadenceKind
    source: EnrollmentSource
    enrolled_at: datetime
    anchor_at: datetime = Field(description="The last qualifying touchpoint, or the enrolment.")
    last_qualifying_touchpoint_at: datetime | None = Field(
        description="The latest touchpoint on one of the cadence's channels."
    )
    next_step: int
    steps: int = Field(description="How many steps the cadence has.")
    next_action: str = Field(description="The action kind of the next step.")
    next_due_at: datetime = Field(
        description="When the next step falls due, with touchpoints and pauses applied now."
    )
    due_now: bool = Field(description="Due: the next tick (hourly) schedules it.")
    paused: bool = Field(description="An open task of the cadence holds the clock.")
    paused_at: datetime | None
    open_task: bool
    last_step: int | None
    last_step_at: datetime | None


class ClientCadenceRead(BaseModel):
    model_config = example(
        client_id=EXAMPLE_ID,
        last_touchpoint_at="2026-10-20T15:00:00Z",
        next_touch_due_at="2026-11-19T15:00:00Z",
        enrollments=[
            {
                "enrollment_id": EXAMPLE_ID,
                "cadence_id": EXAMPLE_ID,
                "cadence_name": "Mid touchpoint every 30 days",
                "kind": "rhythm",
                "source": "tier",
                "enrolled_at": "2026-09-01T08:00:00Z",
                "anchor_at": "2026-10-20T15:00:00Z",
                "last_qualifying_touchpoint_at": "2026-10-20T15:00:00Z",
                "next_step": 0,
                "steps": 1,
                "next_action": "create_task",
                "next_due_at": "2026-11-19T15:00:00Z",
                "due_now": False,
                "paused": False,
                "paused_at": None,
                "open_task": False,
                "last_step": None,
                "last_step_at": None,
            }
        ],
    )

    client_id: uuid.UUID
    last_touchpoint_at: datetime | None = Field(description="On any channel.")
    next_touch_due_at: datetime | None = Field(
        description="The earliest next step of the client's running rhythms; null when none "
        "runs (none enrolled, or every one paused by an open task)."
    )
    enrollments: list[ClientEnrollmentRead] = Field(description="Its active enrolments.")
