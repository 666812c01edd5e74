"""Tenure tasks mirrored as CRM tasks on the client's company/account, and their completion
read back.

A `task.created` fact asks for one `crm.mirror_task` per task and CRM integration (a CRM
write cannot be made idempotent, so each is its own job: a retry repeats one call, never a
batch's). Every few minutes `crm.read_tasks` asks the CRM for the states of the open mirrors
and completes the Tenure tasks the CRM completed. A Tenure task finished first only closes its
mirror's link (the provider clients have no completion write): the CRM task stays as its owner
left it, and polling stops."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Integration
from app.db.repositories.crm import CrmLinkRepository, workspace_integrations
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.db.repositories.tasks import TaskRepository
from app.domain.api_keys import Scope, job_principal
from app.domain.crm import TASK_STATE_BATCH, LinkObject, completed_outcome
from app.domain.integrations import IntegrationKind
from app.domain.tasks import OPEN_STATUSES, TaskStatus
from app.facts import CreatedTask
from app.integrations.base import CrmProvider, CrmTaskDraft
from app.services.crm_push import crm_options
from app.services.tasks import complete_task

MIRROR_JOB = "crm.mirror_task"
"""Its rows carry `{"integration_id": ..., "task_id": ...}`."""
READ_JOB = "crm.read_tasks"
"""Its rows carry `{"integration_id": ...}`."""
"""The principal of a completion the CRM reported: no API key made it."""


async def request_mirrors(
    session: AsyncSession, workspace_id: uuid.UUID, tasks: Sequence[CreatedTask], now: datetime
) -> int:
    """One mirror job per task and CRM integration that mirrors tasks and links the task's
    client; returns how many were asked for."""
    integrations = await workspace_integrations(session, workspace_id)
    mirroring = [
        row
        for row in integrations
        if (options := crm_options(row)) is not None and options.tasks.mirror
    ]
    links = CrmLinkRepository(session)
    messages: list[NewMessage] = []
    for integration in mirroring:
        linked = await links.records(
            integration.id, LinkObject.CLIENT, [task.client_id for task in tasks]
        )
        messages += [
            NewMessage(
                kind=MIRROR_JOB,
                payload={"integration_id": str(integration.id), "task_id": str(task.task_id)},
                workspace_id=workspace_id,
                dedupe_key=f"{MIRROR_JOB}:{integration.id}:{task.task_id}",
            )
            for task in tasks
            if task.client_id in linked
        ]
    return await OutboxRepository(session).add(messages, now)


async def mirror_task(
    session: AsyncSession,
    provider: CrmProvider,
    integration: Integration,
    task_id: uuid.UUID,
    now: datetime,
) -> str | None:
    """Creates the CRM task and links it; None when there is nothing to do (mirrored already,
    the task finished or deleted meanwhile, the client unlinked)."""
    links = CrmLinkRepository(session)
    if await links.get(integration.id, LinkObject.TASK, task_id) is not None:
        return None
    task = await TaskRepository(session).get(integration.workspace_id, task_id)
    if task is None or TaskStatus(task.status) not in OPEN_STATUSES:
        return None
    company = await links.records(integration.id, LinkObject.CLIENT, [task.client_id])
    if task.client_id not in company:
        return None
    owner = (
        await links.records(integration.id, LinkObject.OWNER, [task.owner_id])
        if task.owner_id is not None
        else {}
    )
    record_id = await provider.create_task(
        CrmTaskDraft(
            record_id=company[task.client_id],
            subject=task.title,
            body=task.body or "",
            due_at=task.due_at,
            owner_record_id=owner.get(task.owner_id) if task.owner_id else None,
            priority=task.priority,
        )
    )
    await links.link(
        integration.workspace_id, integration.id, LinkObject.TASK, task.id, record_id, now
    )
    return record_id


@dataclass(frozen=True)
class ReadBack:
    checked: int
    completed: int
    closed: int

    def document(self) -> dict[str, int]:
        return {"checked": self.checked, "completed": self.completed, "closed": self.closed}


async def read_completions(
    session: AsyncSession, provider: CrmProvider, integration: Integration, now: datetime
) -> ReadBack:
    """The open mirrors' states, least recently checked first: a task the CRM completed is
    completed in Tenure; a mirror whose Tenure task is finished or gone, or whose CRM task is
    gone, is closed without asking again."""
    links = CrmLinkRepository(session)
    mirrors = await links.open_mirrors(integration.id, TASK_STATE_BATCH)
    gone = [
        m
        for m in mirrors
        if m.task_status is None or TaskStatus(m.task_status) not in OPEN_STATUSES
    ]
    live = [m for m in mirrors if m not in gone]
    states = await provider.task_states([m.record_id for m in live]) if live else []
    completed_records = {s.task_record_id for s in states if s.completed}
    known_records = {s.task_record_id for s in states}
    principal = job_principal(integration.workspace_id, Scope.ADMIN)
    outcome = completed_outcome(IntegrationKind(integration.kind))
    completed = [m for m in live if m.record_id in completed_records]
    for mirror in completed:
        await complete_task(
            session,
            principal,
            mirror.task_id,
            outcome=outcome,
            channel=None,
            occurred_at=None,
            if_match=None,
            now=now,
        )
    deleted = [m for m in live if m.record_id not in known_records]
    closing = [*gone, *completed, *deleted]
    await links.checked([m.link_id for m in closing], now, closed=True)
    await links.checked([m.link_id for m in live if m not in closing], now, closed=False)
    return ReadBack(len(mirrors), len(completed), len(gone) + len(deleted))


async def request_reads(session: AsyncSession, tick: datetime, now: datetime) -> int:
    """One completion read per integration with open mirrors, for this tick."""
    pairs = await CrmLinkRepository(session).integrations_with_open_mirrors()
    messages = [
        NewMessage(
            kind=READ_JOB,
            payload={"integration_id": str(integration_id)},
            workspace_id=workspace_id,
            dedupe_key=f"{READ_JOB}:{integration_id}:{tick.isoformat()}",
        )
        for workspace_id, integration_id in pairs
    ]
    return await OutboxRepository(session).add(messages, now)
