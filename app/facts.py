"""Facts: what happened, written to the outbox in the transaction that made it happen, for the
work that follows. One typed model per kind, parsed once where a job starts; the item models
(a health change, an opened signal) are also what the public webhook events will carry.

A fact reaches every consumer the job registry lists for its kind, each with its own job row.
Rows whose kind is a job's own name (a schedule's tick, a requested rescore) are requests to
that job, not facts; they carry a `JobRequest`."""

import uuid
from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, ClassVar, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.domain.jobs import OutboxKind


class Fact(BaseModel):
    """Frozen and strict about its fields: a payload that does not parse is a bug, not data.
    Each fact carries one list of items, at most `per_fact` of them."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    kind: ClassVar[OutboxKind]
    per_fact: ClassVar[int]

    @classmethod
    def split(cls, items: Sequence[Any]) -> list[Self]:
        """As many facts as the items need, so that no one job's run grows too long."""
        (field,) = cls.model_fields
        size = cls.per_fact
        return [cls(**{field: items[i : i + size]}) for i in range(0, len(items), size)]


MAX_CLIENTS_PER_FACT = 1000
"""A big batch becomes several `clients.changed` facts, so one evaluation stays short."""
MAX_ITEMS_PER_FACT = 500
"""Health changes and signals per fact: a portfolio rescore writes few, large facts."""


class ClientsChanged(Fact):
    """Clients whose events, contracts or fields changed: their health is evaluated again."""

    kind = OutboxKind.CLIENTS_CHANGED
    per_fact = MAX_CLIENTS_PER_FACT
    client_ids: list[uuid.UUID] = Field(min_length=1, max_length=MAX_CLIENTS_PER_FACT)


class HealthChange(BaseModel):
    """One stored score that moved: by `min_delta`, into another band, or to a new scorecard."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    client_id: uuid.UUID
    score: float | None
    band: str
    previous_score: float | None
    previous_band: str | None
    scorecard_id: uuid.UUID
    scorecard_version: int
    computed_at: datetime


class HealthChanged(Fact):
    kind = OutboxKind.HEALTH_CHANGED
    per_fact = MAX_ITEMS_PER_FACT
    changes: list[HealthChange] = Field(min_length=1, max_length=MAX_ITEMS_PER_FACT)


class OpenedSignal(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    signal_id: uuid.UUID
    client_id: uuid.UUID
    kind: str
    severity: str
    figures: dict[str, Any]
    opened_at: datetime


class ResolvedSignal(OpenedSignal):
    acknowledged: bool
    resolved_at: datetime


class SignalsOpened(Fact):
    kind = OutboxKind.SIGNAL_OPENED
    per_fact = MAX_ITEMS_PER_FACT
    signals: list[OpenedSignal] = Field(min_length=1, max_length=MAX_ITEMS_PER_FACT)


class SignalsResolved(Fact):
    kind = OutboxKind.SIGNAL_RESOLVED
    per_fact = MAX_ITEMS_PER_FACT
    signals: list[ResolvedSignal] = Field(min_length=1, max_length=MAX_ITEMS_PER_FACT)


class EndedContract(BaseModel):
    """A contract that ran out (`expired`, the day after its `ends_on`) or was `cancelled`:
    the close-out conversation with the client is due."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    contract_id: uuid.UUID
    client_id: uuid.UUID
    ends_on: date | None
    reason: Literal["expired", "cancelled"]
    ended_at: datetime


class ContractsEnded(Fact):
    kind = OutboxKind.CONTRACT_ENDED
    per_fact = MAX_ITEMS_PER_FACT
    contracts: list[EndedContract] = Field(min_length=1, max_length=MAX_ITEMS_PER_FACT)


class CreatedTask(BaseModel):
    """A task opened for a client's owner: by hand, a trigger, a cadence step or an
    escalation (`escalates_task_id` then names the overdue task)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    task_id: uuid.UUID
    client_id: uuid.UUID
    owner_id: uuid.UUID | None
    title: str
    priority: str
    due_at: datetime | None
    source: str
    trigger_id: uuid.UUID | None
    trigger_run_id: uuid.UUID | None
    cadence_id: uuid.UUID | None
    cadence_step: int | None
    signal_id: uuid.UUID | None
    escalates_task_id: uuid.UUID | None
    created_at: datetime


class TasksCreated(Fact):
    kind = OutboxKind.TASK_CREATED
    per_fact = MAX_ITEMS_PER_FACT
    tasks: list[CreatedTask] = Field(min_length=1, max_length=MAX_ITEMS_PER_FACT)


class CompletedTask(BaseModel):
    """A task done, with its outcome; `touchpoint_event_id` is the touchpoint its channel
    logged for the client, if any."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    task_id: uuid.UUID
    client_id: uuid.UUID
    owner_id: uuid.UUID | None
    source: str
    trigger_id: uuid.UUID | None
    cadence_id: uuid.UUID | None
    cadence_step: int | None
    outcome: str
    channel: str | None
    touchpoint_event_id: uuid.UUID | None
    completed_at: datetime


class TasksCompleted(Fact):
    kind = OutboxKind.TASK_COMPLETED
    per_fact = MAX_ITEMS_PER_FACT
    tasks: list[CompletedTask] = Field(min_length=1, max_length=MAX_ITEMS_PER_FACT)


class EscalatedTask(BaseModel):
    """An overdue task escalated once: a second task (`escalation_task_id`) or a reassignment
    from `previous_owner_id` to `owner_id`."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    task_id: uuid.UUID
    client_id: uuid.UUID
    action: Literal["task", "reassign"]
    previous_owner_id: uuid.UUID | None
    owner_id: uuid.UUID | None
    escalation_task_id: uuid.UUID | None
    due_at: datetime
    escalated_at: datetime


class TasksEscalated(Fact):
    kind = OutboxKind.TASK_ESCALATED
    per_fact = MAX_ITEMS_PER_FACT
    tasks: list[EscalatedTask] = Field(min_length=1, max_length=MAX_ITEMS_PER_FACT)


class ClientFieldChange(BaseModel):
    """One watched field an edit of a client changed (stage, tier, owner, status), with the
    value before and after: what a `client.changed` trigger waits for."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    client_id: uuid.UUID
    name: Literal["stage", "tier", "owner", "status"]
    before: str | None
    after: str | None


class ClientsUpdated(Fact):
    kind = OutboxKind.CLIENT_UPDATED
    per_fact = MAX_ITEMS_PER_FACT
    changes: list[ClientFieldChange] = Field(min_length=1, max_length=MAX_ITEMS_PER_FACT)


class IngestedEvents(BaseModel):
    """The events of one type one batch stored for one client."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    client_id: uuid.UUID
    type: str
    count: int
    last_occurred_at: datetime


class EventsIngested(Fact):
    """One per ingest batch (split when large): cheap for the hot path, and enough for an
    `event.ingested` trigger to know which clients got which types."""

    kind = OutboxKind.EVENT_INGESTED
    per_fact = MAX_CLIENTS_PER_FACT
    events: list[IngestedEvents] = Field(min_length=1, max_length=MAX_CLIENTS_PER_FACT)


class JobRequest(BaseModel):
    """A row addressed to one job by name: a schedule's `tick`, or a request such as the
    rescore a scorecard change asks for. Jobs may carry their own fields."""

    model_config = ConfigDict(extra="allow", frozen=True)
    tick: datetime | None = None


CATALOGUE: dict[str, type[Fact]] = {
    model.kind.value: model
    for model in (
        ClientsChanged,
        HealthChanged,
        SignalsOpened,
        SignalsResolved,
        ContractsEnded,
        ClientsUpdated,
        EventsIngested,
        TasksCreated,
        TasksCompleted,
        TasksEscalated,
    )
}


class UnreadableFact(ValueError):
    """A stored payload that does not fit its kind's model."""


def parse(kind: str, payload: dict[str, Any]) -> Fact | JobRequest:
    model: type[Fact] | type[JobRequest] = CATALOGUE.get(kind, JobRequest)
    try:
        return model.model_validate(payload)
    except ValidationError as exc:
        raise UnreadableFact(f"{kind} payload does not fit its model: {exc}") from exc


def is_fact(kind: str) -> bool:
    return kind in CATALOGUE
