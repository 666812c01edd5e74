"""`create_task`: a task for the client's owner, through `app.services.tasks.open_task`.

One open task per client and trigger (dedupe key `trigger:{id}`) or cadence step
(`cadence:{id}:{step}`): a re-firing refreshes the open task instead of adding one. The title
and body may quote the client: `{{client.name}}`, `{{client.external_id}}`, `{{client.tier}}`,
`{{client.lifecycle_stage}}`."""

import uuid
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from app.db.repositories.clients import ClientRepository
from app.domain.actions import (
    check_choice,
    check_int,
    check_known,
    check_text,
    check_uuid,
    render,
)
from app.domain.tasks import MAX_BODY, MAX_TITLE, Assignment, TaskChannel, TaskPriority, TaskSource
from app.errors import AppError
from app.services.actions import ActionContext, ActionFailed
from app.services.tasks import open_task

PARAMS = (
    "title",
    "body",
    "due_in_days",
    "due_in_hours",
    "priority",
    "assignment",
    "owner_id",
    "channel",
)


class CreateTask:
    name = "create_task"

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        problems = [
            *check_known(params, PARAMS),
            *check_text(params, "title", MAX_TITLE, required=True),
            *check_text(params, "body", MAX_BODY),
            *check_int(params, "due_in_days", 0, 365),
            *check_int(params, "due_in_hours", 0, 24 * 365),
            *check_choice(params, "priority", [p.value for p in TaskPriority]),
            *check_choice(params, "assignment", [a.value for a in Assignment]),
            *check_uuid(params, "owner_id"),
            *check_choice(params, "channel", [c.value for c in TaskChannel]),
        ]
        if "due_in_days" in params and "due_in_hours" in params:
            problems.append("give `due_in_days` or `due_in_hours`, not both")
        return problems

    async def run(self, context: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        client = await ClientRepository(context.session).get(
            context.workspace_id, context.client_id
        )
        if client is None:
            raise ActionFailed("the client no longer exists")
        quoted = {
            "client.name": client.name,
            "client.external_id": client.external_id,
            "client.tier": client.tier,
            "client.lifecycle_stage": client.lifecycle_stage,
        }
        due_at = None
        if "due_in_days" in params:
            due_at = context.now + timedelta(days=params["due_in_days"])
        elif "due_in_hours" in params:
            due_at = context.now + timedelta(hours=params["due_in_hours"])
        dedupe_key: str | None
        if context.cadence_id is not None:
            source = TaskSource.CADENCE
            dedupe_key = f"cadence:{context.cadence_id}:{context.cadence_step}"
        else:
            source = TaskSource.TRIGGER
            dedupe_key = f"trigger:{context.trigger_id}" if context.trigger_id else None
        owner = params.get("owner_id")
        try:
            opened = await open_task(
                context.session,
                context.workspace_id,
                client_id=context.client_id,
                title=render(params["title"], quoted)[:MAX_TITLE],
                now=context.now,
                body=render(params["body"], quoted)[:MAX_BODY] if params.get("body") else None,
                due_at=due_at,
                priority=params.get("priority", TaskPriority.NORMAL.value),
                source=source.value,
                dedupe_key=dedupe_key,
                owner_id=uuid.UUID(owner) if owner else None,
                assignment=params.get("assignment", Assignment.CLIENT_OWNER.value),
                trigger_id=context.trigger_id,
                trigger_run_id=context.trigger_run_id,
                cadence_id=context.cadence_id,
                cadence_step=context.cadence_step,
                signal_id=context.signal_id,
                channel=params.get("channel"),
            )
        except AppError as exc:  # an owner gone or inactive: another try cannot help
            raise ActionFailed(exc.detail, retryable=False) from exc
        return {
            "task_id": str(opened.task_id),
            "created": opened.created,
            "owner_id": None if opened.owner_id is None else str(opened.owner_id),
        }
