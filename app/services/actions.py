"""The action registry: the one place an action kind is added, and scheduling.

A kind is a small object with a `name`, a pure `problems(params)` (checked when a trigger or a
cadence is written, every problem in one 422) and an async `run(context, params)` that acts in
the job's transaction through the same services as the REST routes. `schedule_actions` writes
one `action_runs` row per action and one outbox row each, due after the action's delay; the job
`actions.run` runs it, so a failing action retries on its own and never blocks the others.

Adding a kind (a later issue's `send_email`, `crm_update`, `emit_webhook`): one module under
`app/services/action_kinds/` and one entry in `action_kinds()`."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import lru_cache
from types import MappingProxyType
from typing import Any, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.repositories.actions import ActionRunRepository
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.actions import ActionSpec, ActionStatus

ACTION_JOB = "actions.run"
"""The job that runs one action run; its outbox rows carry `{"action_run_id": ...}`."""


class ActionFailed(Exception):
    """An action that could not be done: `retryable` for a timeout, a 5xx or a lock; not for
    what another try cannot change (the client's data refuses it). `retry_after` in seconds."""

    def __init__(
        self, message: str, *, retryable: bool = False, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class ActionContext:
    """What an action knows when it runs. Its writes go through `session` and land with the
    job's completion."""

    session: AsyncSession
    workspace_id: uuid.UUID
    client_id: uuid.UUID
    now: datetime
    settings: Settings
    action_run_id: uuid.UUID
    trigger_id: uuid.UUID | None = None
    trigger_run_id: uuid.UUID | None = None
    cadence_id: uuid.UUID | None = None
    cadence_step: int | None = None
    signal_id: uuid.UUID | None = None
    """The signal that woke the trigger, if any: a task it opens links to it."""


class ActionKind(Protocol):
    name: str

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        """Everything wrong with `params`, worded for people; pure (checked on write)."""
        ...

    async def run(self, context: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        """Act; return what was done (stored as the run's result). Raise `ActionFailed`."""
        ...


@lru_cache(maxsize=1)
def action_kinds() -> Mapping[str, ActionKind]:
    """Every action kind by name. Imported here, not at module load: the kinds call services
    that themselves schedule actions (cadences)."""
    from app.services.action_kinds.create_task import CreateTask
    from app.services.action_kinds.crm_update import CrmUpdate
    from app.services.action_kinds.enroll_cadence import EnrollCadence
    from app.services.action_kinds.open_signal import OpenSignal, ResolveSignal
    from app.services.action_kinds.send_email import SendEmail
    from app.services.action_kinds.set_fields import SetFields

    kinds: list[ActionKind] = [
        CreateTask(),
        SetFields(),
        OpenSignal(),
        ResolveSignal(),
        EnrollCadence(),
        SendEmail(),
        CrmUpdate(),
    ]
    return MappingProxyType({kind.name: kind for kind in [*kinds, *_ADDED.values()]})


_ADDED: dict[str, ActionKind] = {}


def add_action_kind(kind: ActionKind) -> None:
    """A kind from outside the list above: a test's probe (as the job registry's `extended`)."""
    _ADDED[kind.name] = kind
    action_kinds.cache_clear()


def remove_action_kind(name: str) -> None:
    _ADDED.pop(name, None)
    action_kinds.cache_clear()


@dataclass(frozen=True)
class ActionTarget:
    """One client a set of actions is scheduled for, with what links the runs to their cause."""

    client_id: uuid.UUID
    trigger_run_id: uuid.UUID | None = None
    signal_id: uuid.UUID | None = None
    cadence_enrollment_id: uuid.UUID | None = None
    """A cadence tick's targets each carry their own enrolment."""


async def schedule_actions(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client_id: uuid.UUID,
    specs: Sequence[ActionSpec],
    now: datetime,
    *,
    trigger_run_id: uuid.UUID | None = None,
    cadence_enrollment_id: uuid.UUID | None = None,
    cadence_id: uuid.UUID | None = None,
    cadence_step: int | None = None,
    signal_id: uuid.UUID | None = None,
) -> list[uuid.UUID]:
    """Writes the action runs, each due at `now` + its delay, with one outbox row each;
    returns their ids in order. Flushes only."""
    target = ActionTarget(client_id, trigger_run_id, signal_id)
    return await schedule_many(
        session,
        workspace_id,
        [target],
        specs,
        now,
        cadence_enrollment_id=cadence_enrollment_id,
        cadence_id=cadence_id,
        cadence_step=cadence_step,
    )


async def schedule_many(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    targets: Sequence[ActionTarget],
    specs: Sequence[ActionSpec],
    now: datetime,
    *,
    cadence_enrollment_id: uuid.UUID | None = None,
    cadence_id: uuid.UUID | None = None,
    cadence_step: int | None = None,
) -> list[uuid.UUID]:
    """The same actions for many clients (a scheduled trigger firing over the portfolio) in
    two statements."""
    rows: list[dict[str, Any]] = []
    messages: list[NewMessage] = []
    for target in targets:
        for position, spec in enumerate(specs):
            action_run_id = uuid.uuid4()
            due_at = now + timedelta(seconds=spec.delay_seconds)
            rows.append(
                {
                    "id": action_run_id,
                    "workspace_id": workspace_id,
                    "client_id": target.client_id,
                    "trigger_run_id": target.trigger_run_id,
                    "cadence_enrollment_id": target.cadence_enrollment_id or cadence_enrollment_id,
                    "cadence_id": cadence_id,
                    "cadence_step": cadence_step,
                    "signal_id": target.signal_id,
                    "kind": spec.kind,
                    "params": dict(spec.params),
                    "position": position,
                    "due_at": due_at,
                    "status": ActionStatus.PENDING.value,
                    "attempts": 0,
                    "result": None,
                    "error": None,
                    "finished_at": None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            messages.append(
                NewMessage(
                    kind=ACTION_JOB,
                    payload={"action_run_id": str(action_run_id)},
                    workspace_id=workspace_id,
                    available_at=due_at,
                )
            )
    await ActionRunRepository(session).insert(rows)
    await OutboxRepository(session).add(messages, now)
    return [row["id"] for row in rows]


async def run_action(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    action_run_id: uuid.UUID,
    now: datetime,
    settings: Settings,
    *,
    attempt: int,
) -> dict[str, Any]:
    """Runs one action run in the caller's transaction and records its success; raises
    ActionFailed (for `record_failure`). A run already settled, or whose trigger or cadence
    was disabled or deleted meanwhile (or whose enrolment ended), is left alone or skipped."""
    repository = ActionRunRepository(session)
    due = await repository.get(workspace_id, action_run_id)
    if due is None:
        return {"skipped": "the action run no longer exists (its client was deleted)"}
    action = due.run
    if action.status != ActionStatus.PENDING:
        return {"skipped": f"already {action.status}"}
    if not due.source_live:
        result = {
            "reason": "its trigger or cadence was disabled or deleted, or its enrolment ended, "
            "before the action was due"
        }
        await repository.settle(
            action.id, status=ActionStatus.SKIPPED, attempts=attempt, now=now, result=result
        )
        return result
    kind = action_kinds().get(action.kind)
    if kind is None:  # a newer process wrote it (a rolling deploy): one that knows it will run it
        raise ActionFailed(f"no action kind {action.kind!r} in this version", retryable=True)
    context = ActionContext(
        session=session,
        workspace_id=workspace_id,
        client_id=action.client_id,
        now=now,
        settings=settings,
        action_run_id=action.id,
        trigger_id=due.trigger_id,
        trigger_run_id=action.trigger_run_id,
        cadence_id=action.cadence_id,
        cadence_step=action.cadence_step,
        signal_id=action.signal_id,
    )
    result = await kind.run(context, action.params)
    await repository.settle(
        action.id, status=ActionStatus.SUCCEEDED, attempts=attempt, now=now, result=result
    )
    return result


async def record_failure(
    session: AsyncSession,
    action_run_id: uuid.UUID,
    error: str,
    now: datetime,
    *,
    attempt: int,
    final: bool,
) -> None:
    """A failed try, kept on the action run: pending for another try, or failed for good."""
    await ActionRunRepository(session).settle(
        action_run_id,
        status=ActionStatus.FAILED if final else ActionStatus.PENDING,
        attempts=attempt,
        now=now,
        error=error[:2000],
    )
