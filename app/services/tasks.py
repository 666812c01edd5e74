"""Tasks: opening one (deduplicated, assigned), the owner's use cases, and the escalation run.

`open_task` is what triggers and cadences call; the REST use cases take the caller's
principal. Every function only flushes: the request or the job run commits."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import Enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, Task, TaskSettingsRecord
from app.db.repositories.clients import ClientRepository
from app.db.repositories.paging import Page
from app.db.repositories.signals import SignalRepository
from app.db.repositories.tasks import TaskFilters, TaskRepository
from app.domain import tasks as rules
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.domain.tasks import (
    Assignment,
    EscalationAction,
    TaskPriority,
    TaskSettings,
    TaskSource,
    TaskStatus,
)
from app.errors import InvalidInput, NotFound
from app.facts import (
    CompletedTask,
    CreatedTask,
    EscalatedTask,
    TasksCompleted,
    TasksCreated,
    TasksEscalated,
)
from app.services.events import EventInput, ItemStatus, ingest
from app.services.outbox import emit

TOUCHPOINT_SOURCE = "tasks"
"""The event source of touchpoints logged by completed tasks; with the task id as external
id, a retried completion finds its touchpoint already stored."""
ESCALATIONS_PER_RUN = 500
"""Escalations per workspace per run: the next run (a minute later) takes the rest."""


class Planned(Enum):
    """`complete_task(channel=PLANNED)`: the channel the task planned, if any."""

    CHANNEL = "planned"


PLANNED = Planned.CHANNEL


@dataclass(frozen=True)
class TaskOpened:
    task_id: uuid.UUID
    created: bool  # False: an open task with the same dedupe_key was updated instead
    owner_id: uuid.UUID | None


@dataclass(frozen=True)
class _NewTask:
    client_id: uuid.UUID
    title: str
    body: str | None
    due_at: datetime | None
    priority: str
    source: str
    dedupe_key: str | None
    owner_id: uuid.UUID | None
    assignment: str
    trigger_id: uuid.UUID | None = None
    trigger_run_id: uuid.UUID | None = None
    cadence_id: uuid.UUID | None = None
    cadence_step: int | None = None
    signal_id: uuid.UUID | None = None
    channel: str | None = None
    escalates_task_id: uuid.UUID | None = None


async def open_task(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    *,
    client_id: uuid.UUID,
    title: str,
    now: datetime,
    body: str | None = None,
    due_at: datetime | None = None,
    priority: str = "normal",
    source: str = "manual",
    dedupe_key: str | None = None,
    owner_id: uuid.UUID | None = None,
    assignment: str = "client_owner",  # client_owner|round_robin|least_loaded
    trigger_id: uuid.UUID | None = None,
    trigger_run_id: uuid.UUID | None = None,
    cadence_id: uuid.UUID | None = None,
    cadence_step: int | None = None,
    signal_id: uuid.UUID | None = None,
    channel: str | None = None,
) -> TaskOpened:
    """Opens a task for the client, or refreshes the open (or snoozed) one holding the same
    `dedupe_key` (title, body, due date and priority) so a re-firing never makes a second.
    Bad input raises InvalidInput with every problem; a `task.created` fact is written with
    a new task."""
    spec = _NewTask(
        client_id=client_id,
        title=title,
        body=body,
        due_at=due_at,
        priority=priority,
        source=source,
        dedupe_key=dedupe_key,
        owner_id=owner_id,
        assignment=assignment,
        trigger_id=trigger_id,
        trigger_run_id=trigger_run_id,
        cadence_id=cadence_id,
        cadence_step=cadence_step,
        signal_id=signal_id,
        channel=channel,
    )
    task, created = await _open(session, workspace_id, spec, now)
    return TaskOpened(task_id=task.id, created=created, owner_id=task.owner_id)


async def _open(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    spec: _NewTask,
    now: datetime,
    *,
    assign: bool = True,
) -> tuple[Task, bool]:
    """`assign=False` takes `spec.owner_id` as it is, None included: the escalation run
    chose it among the active owners already."""
    rules.validate_fields(
        rules.TaskFields(
            title=spec.title,
            body=spec.body,
            priority=spec.priority,
            source=spec.source,
            channel=spec.channel,
            dedupe_key=spec.dedupe_key,
            assignment=spec.assignment,
            due_at=spec.due_at,
        )
    )
    tasks = TaskRepository(session)
    client = await ClientRepository(session).get(workspace_id, spec.client_id)
    if client is None:
        raise _reference("client_id", "client_id does not name a client of this workspace")
    if spec.signal_id is not None:
        signal = await SignalRepository(session).get(workspace_id, spec.signal_id)
        if signal is None or signal.client_id != client.id:
            raise _reference("signal_id", "signal_id does not name a signal of this client")
    if spec.dedupe_key is not None:
        existing = await tasks.find_open(workspace_id, client.id, spec.dedupe_key)
        if existing is not None:
            return await _refresh(session, existing, spec), False
    owner_id = await _assign(session, workspace_id, client, spec) if assign else spec.owner_id
    task = await tasks.insert(
        {
            "id": uuid.uuid4(),
            "workspace_id": workspace_id,
            "client_id": client.id,
            "owner_id": owner_id,
            "title": spec.title,
            "body": spec.body,
            "due_at": spec.due_at,
            "priority": spec.priority,
            "status": TaskStatus.OPEN.value,
            "source": spec.source,
            "trigger_id": spec.trigger_id,
            "trigger_run_id": spec.trigger_run_id,
            "cadence_id": spec.cadence_id,
            "cadence_step": spec.cadence_step,
            "signal_id": spec.signal_id,
            "channel": spec.channel,
            "dedupe_key": spec.dedupe_key,
            "escalates_task_id": spec.escalates_task_id,
            "assigned_at": now if owner_id is not None else None,
            "version": 1,
            "created_at": now,
            "updated_at": now,
        }
    )
    if task is None:  # a concurrent opening of the same key committed first
        assert spec.dedupe_key is not None
        existing = await tasks.find_open(workspace_id, client.id, spec.dedupe_key)
        assert existing is not None
        return await _refresh(session, existing, spec), False
    await emit(session, [TasksCreated(tasks=[_created(task)])], workspace_id=workspace_id, now=now)
    return task, True


async def _refresh(session: AsyncSession, task: Task, spec: _NewTask) -> Task:
    """A re-firing brings the open task up to date (the latest run, signal and channel too,
    when it names them); its owner and status stay. Unchanged, its version stays."""
    changes: dict[str, Any] = {
        "title": spec.title,
        "body": spec.body,
        "due_at": spec.due_at,
        "priority": spec.priority,
    }
    for name in ("trigger_run_id", "signal_id", "channel"):
        if getattr(spec, name) is not None:
            changes[name] = getattr(spec, name)
    for name, value in changes.items():
        if getattr(task, name) != value:
            setattr(task, name, value)
    await session.flush()
    return task


async def _assign(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client: Client,
    spec: _NewTask,
) -> uuid.UUID | None:
    tasks = TaskRepository(session)
    if spec.owner_id is not None:
        if not await tasks.active_owner(workspace_id, spec.owner_id):
            raise _reference("owner_id", "owner_id does not name an active owner of this workspace")
        return spec.owner_id
    if client.owner_id is not None and await tasks.active_owner(workspace_id, client.owner_id):
        return client.owner_id
    settings = await load_settings(session, workspace_id)
    strategy = rules.strategy_without_owner(
        Assignment(spec.assignment), settings.assignment.fallback
    )
    if strategy == rules.Fallback.NONE:
        return None
    return rules.pick(strategy, await tasks.owner_loads(workspace_id))


def _reference(field: str, message: str) -> InvalidInput:
    return InvalidInput(
        message, errors=[{"loc": ["body", field], "msg": message, "type": "reference"}]
    )


def _created(task: Task) -> CreatedTask:
    return CreatedTask(
        task_id=task.id,
        client_id=task.client_id,
        owner_id=task.owner_id,
        title=task.title,
        priority=task.priority,
        due_at=task.due_at,
        source=task.source,
        trigger_id=task.trigger_id,
        trigger_run_id=task.trigger_run_id,
        cadence_id=task.cadence_id,
        cadence_step=task.cadence_step,
        signal_id=task.signal_id,
        escalates_task_id=task.escalates_task_id,
        created_at=task.created_at,
    )


# The owner's use cases ------------------------------------------------------------------------


async def create_task(
    session: AsyncSession, principal: Principal, data: dict[str, Any], now: datetime
) -> tuple[Task, bool]:
    """A task made by hand; with a `dedupe_key` an open task holding it is refreshed instead
    (returned with False)."""
    spec = _NewTask(
        client_id=data["client_id"],
        title=data["title"],
        body=data.get("body"),
        due_at=data.get("due_at"),
        priority=data.get("priority", TaskPriority.NORMAL.value),
        source=TaskSource.MANUAL.value,
        dedupe_key=data.get("dedupe_key"),
        owner_id=data.get("owner_id"),
        assignment=data.get("assignment", Assignment.CLIENT_OWNER.value),
        signal_id=data.get("signal_id"),
        channel=data.get("channel"),
    )
    return await _open(session, principal.workspace_id, spec, now)


async def get_task(session: AsyncSession, principal: Principal, task_id: uuid.UUID) -> Task:
    task = await TaskRepository(session).get(principal.workspace_id, task_id)
    if task is None:
        raise NotFound("task not found")
    return task


async def list_tasks(
    session: AsyncSession,
    principal: Principal,
    filters: TaskFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> Page[Task]:
    return await TaskRepository(session).page(
        principal.workspace_id, filters, sort=sort, cursor=cursor, limit=limit, now=now
    )


async def update_task(
    session: AsyncSession,
    principal: Principal,
    task_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None,
    now: datetime,
) -> Task:
    """Title, body, due date, priority, planned channel, or the owner (null: unassigned)."""
    task = await _load(session, principal, task_id, if_match)
    rules.check_editable(TaskStatus(task.status))
    changes = dict(changes)
    if "owner_id" in changes:
        owner_id = changes.pop("owner_id")
        if owner_id is not None and not await TaskRepository(session).active_owner(
            principal.workspace_id, owner_id
        ):
            raise _reference("owner_id", "owner_id does not name an active owner of this workspace")
        if owner_id != task.owner_id:
            task.owner_id = owner_id
            task.assigned_at = now if owner_id is not None else None
    for field, value in changes.items():
        setattr(task, field, value)
    await session.flush()
    return task


async def complete_task(
    session: AsyncSession,
    principal: Principal,
    task_id: uuid.UUID,
    *,
    outcome: str,
    channel: str | Planned | None,
    occurred_at: datetime | None,
    if_match: str | None,
    now: datetime,
) -> Task:
    """Done, with its outcome. A `channel` (`PLANNED`: the task's own) logs a `touchpoint`
    event for the client through ingestion, so the client's last touchpoint, its cadence and
    `gone_quiet` reset; the event's external id is the task's, so it is logged once."""
    task = await _load(session, principal, task_id, if_match)
    rules.check_transition(TaskStatus(task.status), TaskStatus.DONE)
    if isinstance(channel, Planned):
        channel = task.channel
    occurred = occurred_at or now
    rules.check_completion_time(occurred, now)
    event_id = None
    if channel is not None:
        event_id = await _log_touchpoint(session, principal, task, outcome, channel, occurred, now)
    task.status = TaskStatus.DONE.value
    task.outcome = outcome
    task.channel = channel if channel is not None else task.channel
    task.completed_at = now
    task.snoozed_until = None
    await session.flush()
    completed = CompletedTask(
        task_id=task.id,
        client_id=task.client_id,
        owner_id=task.owner_id,
        source=task.source,
        trigger_id=task.trigger_id,
        cadence_id=task.cadence_id,
        cadence_step=task.cadence_step,
        outcome=outcome,
        channel=channel,
        touchpoint_event_id=event_id,
        completed_at=now,
    )
    await emit(
        session, [TasksCompleted(tasks=[completed])], workspace_id=task.workspace_id, now=now
    )
    return task


async def _log_touchpoint(
    session: AsyncSession,
    principal: Principal,
    task: Task,
    outcome: str,
    channel: str,
    occurred_at: datetime,
    now: datetime,
) -> uuid.UUID | None:
    properties: dict[str, Any] = {"channel": channel, "task_id": str(task.id), "outcome": outcome}
    if task.owner_id is not None:
        properties["owner_id"] = str(task.owner_id)
    event = EventInput(
        client_id=task.client_id,
        client_external_id=None,
        type="touchpoint",
        occurred_at=occurred_at,
        value=None,
        properties=properties,
        contact_id=None,
        contact_email=None,
        source=TOUCHPOINT_SOURCE,
        external_id=f"task:{task.id}",
    )
    (result,) = await ingest(session, principal, [event], upsert_clients=False, now=now)
    if result.status is ItemStatus.REJECTED:
        assert result.problem is not None
        raise InvalidInput(result.problem.detail, errors=result.problem.errors)
    return result.id


async def snooze_task(
    session: AsyncSession,
    principal: Principal,
    task_id: uuid.UUID,
    until: datetime,
    if_match: str | None,
    now: datetime,
) -> Task:
    task = await _load(session, principal, task_id, if_match)
    plan = rules.snooze(TaskStatus(task.status), task.due_at, until, now)
    task.status = TaskStatus.SNOOZED.value
    task.snoozed_until = plan.snoozed_until
    task.due_at = plan.due_at
    await session.flush()
    return task


async def reopen_task(
    session: AsyncSession, principal: Principal, task_id: uuid.UUID, if_match: str | None
) -> Task:
    """A snoozed task back to open before its time; done and cancelled tasks are final."""
    task = await _load(session, principal, task_id, if_match)
    rules.check_transition(TaskStatus(task.status), TaskStatus.OPEN)
    task.status = TaskStatus.OPEN.value
    task.snoozed_until = None
    await session.flush()
    return task


async def cancel_task(
    session: AsyncSession,
    principal: Principal,
    task_id: uuid.UUID,
    if_match: str | None,
    now: datetime,
) -> Task:
    """Closed without being done; kept, so reports still count what a playbook asked for."""
    task = await _load(session, principal, task_id, if_match)
    rules.check_transition(TaskStatus(task.status), TaskStatus.CANCELLED)
    task.status = TaskStatus.CANCELLED.value
    task.cancelled_at = now
    task.snoozed_until = None
    await session.flush()
    return task


async def delete_task(
    session: AsyncSession, principal: Principal, task_id: uuid.UUID, if_match: str | None
) -> None:
    task = await _load(session, principal, task_id, if_match)
    await TaskRepository(session).delete(task)


async def _load(
    session: AsyncSession, principal: Principal, task_id: uuid.UUID, if_match: str | None
) -> Task:
    task = await get_task(session, principal, task_id)
    check_if_match(if_match, etag(task.id, task.version))
    return task


# Settings -------------------------------------------------------------------------------------


async def load_settings(session: AsyncSession, workspace_id: uuid.UUID) -> TaskSettings:
    return _settings_of(await TaskRepository(session).settings(workspace_id))


async def get_settings(session: AsyncSession, principal: Principal) -> tuple[TaskSettings, str]:
    """The settings with their ETag."""
    record = await TaskRepository(session).settings(principal.workspace_id)
    return _settings_of(record), _settings_tag(principal.workspace_id, record)


async def update_settings(
    session: AsyncSession, principal: Principal, changes: dict[str, Any], if_match: str | None
) -> tuple[TaskSettings, str]:
    repository = TaskRepository(session)
    record = await repository.settings(principal.workspace_id)
    check_if_match(if_match, _settings_tag(principal.workspace_id, record))
    current = _settings_of(record)
    updated = rules.validate_settings(rules.apply_changes(current, changes))
    owner_id = updated.escalation.owner_id
    if (
        owner_id is not None
        and owner_id != current.escalation.owner_id
        and not await repository.active_owner(principal.workspace_id, owner_id)
    ):
        raise InvalidInput(
            "escalation.owner_id does not name an active owner of this workspace",
            errors=[
                {
                    "loc": ["body", "escalation", "owner_id"],
                    "msg": "unknown or inactive owner",
                    "type": "reference",
                }
            ],
        )
    document = rules.to_document(updated)
    if record is None:
        record = TaskSettingsRecord(workspace_id=principal.workspace_id, settings=document)
        await repository.add_settings(record)
    else:
        record.settings = document
    await session.flush()
    return updated, _settings_tag(principal.workspace_id, record)


def _settings_of(record: TaskSettingsRecord | None) -> TaskSettings:
    """No row: the workspace runs on the defaults."""
    return rules.DEFAULT_SETTINGS if record is None else rules.from_document(record.settings)


def _settings_tag(workspace_id: uuid.UUID, record: TaskSettingsRecord | None) -> str:
    """Version 0 while the workspace runs on the defaults."""
    return etag(workspace_id, 0 if record is None else record.version)


# The escalation run ---------------------------------------------------------------------------


@dataclass(frozen=True)
class DueWork:
    woken: int
    escalated: int


SHORTEST_DELAY = timedelta(hours=1)
"""The least escalation delay a workspace may set (`after_hours` ≥ 1)."""


async def run_due(
    session: AsyncSession, now: datetime, workspace_id: uuid.UUID | None = None
) -> DueWork:
    """Wakes the snoozed tasks whose time has passed, then escalates, once each, the open
    tasks overdue by more than their workspace's delay."""
    tasks = TaskRepository(session)
    woken = await tasks.wake(now, workspace_id)
    workspaces = (
        [workspace_id]
        if workspace_id is not None
        else await tasks.workspaces_with_overdue(now - SHORTEST_DELAY)
    )
    escalated = 0
    for workspace in workspaces:
        escalated += await _escalate_workspace(session, workspace, now)
    return DueWork(woken=woken, escalated=escalated)


async def _escalate_workspace(session: AsyncSession, workspace_id: uuid.UUID, now: datetime) -> int:
    tasks = TaskRepository(session)
    settings = await load_settings(session, workspace_id)
    rule = settings.escalation
    if not rule.enabled:
        return 0
    cutoff = rules.escalation_cutoff(rule, now)
    candidates = await tasks.escalation_candidates(workspace_id, cutoff, ESCALATIONS_PER_RUN)
    if not candidates:
        return 0
    loads = await tasks.owner_loads(workspace_id)
    escalated: list[EscalatedTask] = []
    for task in candidates:
        if not await tasks.claim_escalation(task.id, cutoff, now):
            continue
        await session.refresh(task)
        target = rules.escalation_owner(rule, task.owner_id, loads)
        previous = task.owner_id
        escalation_task_id = None
        if rule.action is EscalationAction.TASK:
            second, _ = await _open(
                session,
                workspace_id,
                _NewTask(
                    client_id=task.client_id,
                    title=rules.escalation_title(task.title),
                    body=_escalation_body(task),
                    due_at=now + timedelta(hours=rule.due_hours),
                    priority=TaskPriority.URGENT.value,
                    source=TaskSource.ESCALATION.value,
                    dedupe_key=f"escalation:{task.id}",
                    owner_id=target,
                    assignment=Assignment.CLIENT_OWNER.value,
                    signal_id=task.signal_id,
                    channel=task.channel,
                    escalates_task_id=task.id,
                ),
                now,
                assign=False,
            )
            escalation_task_id = second.id
            owner = second.owner_id
        else:
            task.owner_id = target
            if target != previous:
                task.assigned_at = now
            task.priority = TaskPriority.URGENT.value
            await session.flush()
            owner = target
        loads = rules.after_assignment(loads, owner, now)
        assert task.due_at is not None
        escalated.append(
            EscalatedTask(
                task_id=task.id,
                client_id=task.client_id,
                action=rule.action.value,
                previous_owner_id=previous,
                owner_id=owner,
                escalation_task_id=escalation_task_id,
                due_at=task.due_at,
                escalated_at=now,
            )
        )
    if escalated:
        await emit(session, TasksEscalated.split(escalated), workspace_id=workspace_id, now=now)
    return len(escalated)


def _escalation_body(task: Task) -> str:
    due = task.due_at.isoformat() if task.due_at is not None else "unknown"
    body = f"Task {task.id} was due {due} and is still open; it was escalated to you."
    return body[: rules.MAX_BODY]
