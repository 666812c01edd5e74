import uuid
from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StrictBool, StringConstraints

from app.api.rest.schemas.common import (
    EXAMPLE_ID,
    EXAMPLE_TIME,
    InputModel,
    IsoDateTime,
    Paginated,
    example,
    optional,
)
from app.domain.tasks import (
    DEFAULT_SETTINGS,
    MAX_BODY,
    MAX_DEDUPE_KEY,
    MAX_HOURS,
    MAX_OUTCOME,
    MAX_TITLE,
    Assignment,
    EscalationAction,
    Fallback,
    TaskChannel,
    TaskPriority,
    TaskSource,
    TaskStatus,
    to_document,
)

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TITLE)]
Body = Annotated[str, StringConstraints(max_length=MAX_BODY)]
Outcome = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_OUTCOME)
]
DedupeKey = Annotated[
    str,
    StringConstraints(min_length=1, max_length=MAX_DEDUPE_KEY, pattern=r"^\S(.*\S)?$"),
    Field(
        description=(
            "At most one open (or snoozed) task per client holds a key: creating another with "
            "it refreshes that task instead (200). Triggers use `trigger:<id>`, cadences "
            "`cadence:<id>:<step>`."
        )
    ),
]
Hours = Annotated[int, Field(strict=True, ge=1, le=MAX_HOURS)]
CHANNEL_DOC = (
    "The touchpoint channel the task plans; completing the task on a channel logs a "
    "`touchpoint` event for the client."
)
ASSIGNMENT_DOC = (
    "Who gets the task when no `owner_id` is named and the client has no active owner: "
    "`client_owner` defers to the workspace's task settings (round-robin by default); "
    "`round_robin` picks the active owner given a task least recently, `least_loaded` the one "
    "with the fewest open tasks."
)
TASK_EXAMPLE = {
    "id": EXAMPLE_ID,
    "client_id": EXAMPLE_ID,
    "owner_id": EXAMPLE_ID,
    "title": "Call Globex about the usage drop",
    "body": "Logins fell 40% in two weeks; ask about the new team.",
    "due_at": EXAMPLE_TIME,
    "priority": "high",
    "status": "open",
    "snoozed_until": None,
    "source": "trigger",
    "trigger_id": EXAMPLE_ID,
    "trigger_run_id": EXAMPLE_ID,
    "cadence_id": None,
    "cadence_step": None,
    "signal_id": EXAMPLE_ID,
    "channel": "call",
    "outcome": None,
    "dedupe_key": f"trigger:{EXAMPLE_ID}",
    "escalates_task_id": None,
    "escalated_at": None,
    "assigned_at": EXAMPLE_TIME,
    "completed_at": None,
    "cancelled_at": None,
    "created_at": EXAMPLE_TIME,
    "updated_at": EXAMPLE_TIME,
}


class TaskCreate(InputModel):
    model_config = example(
        client_id=EXAMPLE_ID,
        title="Call Globex about the renewal",
        due_at=EXAMPLE_TIME,
        priority="high",
        channel="call",
    )

    client_id: uuid.UUID
    title: Title
    body: Body | None = None
    due_at: IsoDateTime | None = None
    priority: TaskPriority = TaskPriority.NORMAL
    owner_id: uuid.UUID | None = Field(
        default=None, description="An active owner; by default the client's owner."
    )
    assignment: Assignment = Field(default=Assignment.CLIENT_OWNER, description=ASSIGNMENT_DOC)
    channel: TaskChannel | None = Field(default=None, description=CHANNEL_DOC)
    signal_id: uuid.UUID | None = Field(
        default=None, description="A signal of the client that the task answers."
    )
    dedupe_key: DedupeKey | None = None


class TaskUpdate(InputModel):
    model_config = example(due_at=EXAMPLE_TIME, priority="urgent")

    title: Title = optional()
    body: Body | None = optional()
    due_at: IsoDateTime | None = optional()
    priority: TaskPriority = optional()
    owner_id: uuid.UUID | None = optional("An active owner; null leaves the task unassigned.")
    channel: TaskChannel | None = optional(CHANNEL_DOC)


class TaskComplete(InputModel):
    model_config = example(outcome="Spoke with the CFO; renewal on track.", channel="call")

    outcome: Outcome = Field(description="What came of it, for the record and the reports.")
    channel: TaskChannel | None = optional(
        "Logs a `touchpoint` event on this channel for the client (so its cadence and "
        "`gone_quiet` reset). Omitted: the task's own channel; null: no touchpoint."
    )
    occurred_at: IsoDateTime = optional("When the touchpoint happened; now by default.")


class TaskSnooze(InputModel):
    model_config = example(until=EXAMPLE_TIME)

    until: IsoDateTime = Field(
        description=("When the task opens again (within a year). A due date before it moves to it.")
    )


class TaskRead(BaseModel):
    model_config = example(**TASK_EXAMPLE)

    id: uuid.UUID
    client_id: uuid.UUID
    owner_id: uuid.UUID | None
    title: str
    body: str | None
    due_at: datetime | None
    priority: TaskPriority
    status: TaskStatus
    snoozed_until: datetime | None
    source: TaskSource = Field(description="manual, trigger, cadence or escalation.")
    trigger_id: uuid.UUID | None
    trigger_run_id: uuid.UUID | None
    cadence_id: uuid.UUID | None
    cadence_step: int | None
    signal_id: uuid.UUID | None
    channel: TaskChannel | None
    outcome: str | None
    dedupe_key: str | None
    escalates_task_id: uuid.UUID | None = Field(
        description="On an escalation task: the overdue task it escalates."
    )
    escalated_at: datetime | None = Field(description="When this overdue task escalated.")
    assigned_at: datetime | None = Field(description="When the current owner got the task.")
    completed_at: datetime | None
    cancelled_at: datetime | None
    created_at: datetime
    updated_at: datetime


class TaskPage(Paginated[TaskRead]):
    pass


class AssignmentSettings(BaseModel):
    fallback: Fallback = Field(
        description=(
            "Who gets a task whose client has no active owner: `round_robin`, `least_loaded` "
            "(among active owners) or `none` (unassigned)."
        )
    )


class AssignmentUpdate(InputModel):
    fallback: Fallback = optional()


class EscalationSettings(BaseModel):
    enabled: bool
    after_hours: int = Field(description="How long past its due date an open task escalates.")
    action: EscalationAction = Field(
        description=(
            "`task`: a second, urgent task for the escalation owner; `reassign`: the task "
            "moves to them and becomes urgent."
        )
    )
    owner_id: uuid.UUID | None = Field(
        description=(
            "The escalation owner (a manager). Null or inactive: the least-loaded other "
            "active owner, else the task's own owner."
        )
    )
    due_hours: int = Field(description="An escalation task is due this many hours later.")


class EscalationUpdate(InputModel):
    enabled: StrictBool = optional()
    after_hours: Hours = optional()
    action: EscalationAction = optional()
    owner_id: uuid.UUID | None = Field(default=None, description="An active owner, or null.")
    due_hours: Hours = optional()


class TaskSettingsRead(BaseModel):
    model_config = example(**to_document(DEFAULT_SETTINGS))

    assignment: AssignmentSettings
    escalation: EscalationSettings


class TaskSettingsUpdate(InputModel):
    model_config = example(escalation={"after_hours": 24, "owner_id": EXAMPLE_ID})

    assignment: AssignmentUpdate = optional()
    escalation: EscalationUpdate = optional()
