import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from app.api.deps import (
    DEFAULT_PAGE_LIMIT,
    CursorParam,
    IfMatch,
    Limit,
    NowDep,
    ReadPrincipal,
    SessionDep,
    WritePrincipal,
)
from app.api.rest.responses import set_etag, set_location
from app.api.rest.schemas.common import IsoDateTime, QueryBool
from app.api.rest.schemas.tasks import (
    TaskComplete,
    TaskCreate,
    TaskPage,
    TaskRead,
    TaskSettingsRead,
    TaskSettingsUpdate,
    TaskSnooze,
    TaskUpdate,
)
from app.db.models import Task
from app.db.repositories.tasks import TaskFilters
from app.domain.tasks import TaskSettings, TaskSource, TaskStatus, to_document
from app.services import tasks as service
from app.services.tasks import PLANNED

router = APIRouter(tags=["tasks"])
TaskSort = Literal["due_at", "-due_at", "created_at", "-created_at"]


def _read(response: Response, task: Task) -> TaskRead:
    set_etag(response, task.id, task.version)
    return TaskRead.model_validate(task, from_attributes=True)


@router.post(
    "/v1/tasks",
    status_code=status.HTTP_201_CREATED,
    operation_id="createTask",
    summary="Create a task for a client's owner",
    description=(
        "Assigned to `owner_id`, else to the client's active owner, else as `assignment` says. "
        "With a `dedupe_key` that an open or snoozed task of the client already holds, that "
        "task is refreshed (title, body, due date, priority) and answered with 200."
    ),
    responses={200: {"description": "An open task with the dedupe key was refreshed"}},
)
async def create_task(
    body: TaskCreate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
) -> TaskRead:
    task, created = await service.create_task(
        session, principal, body.model_dump(exclude_unset=True), now
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    set_location(response, f"/v1/tasks/{task.id}")
    return _read(response, task)


@router.get(
    "/v1/tasks",
    operation_id="listTasks",
    summary="List tasks; an owner's open tasks by due date in one call",
    description=(
        "`?owner_id=…&status=open` lists an owner's open tasks, soonest due first (undated "
        "last): the default sort. `overdue=true`: open tasks past their due date."
    ),
)
async def list_tasks(
    session: SessionDep,
    principal: ReadPrincipal,
    now: NowDep,
    owner_id: Annotated[uuid.UUID | None, Query(description="Tasks of this owner.")] = None,
    client_id: Annotated[uuid.UUID | None, Query(description="Tasks of this client.")] = None,
    status: Annotated[
        list[TaskStatus] | None,
        Query(description="Only these statuses; repeat the parameter for several."),
    ] = None,
    source: Annotated[
        list[TaskSource] | None,
        Query(description="Only these sources; repeat the parameter for several."),
    ] = None,
    due_before: Annotated[
        IsoDateTime | None, Query(description="Due before this time (exclusive).")
    ] = None,
    overdue: Annotated[
        QueryBool | None,
        Query(description="true: open tasks past their due date; false: every other task."),
    ] = None,
    sort: TaskSort = "due_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> TaskPage:
    filters = TaskFilters(
        owner_id=owner_id,
        client_id=client_id,
        statuses=tuple(s.value for s in status or ()),
        sources=tuple(s.value for s in source or ()),
        due_before=due_before,
        overdue=overdue,
    )
    page = await service.list_tasks(
        session, principal, filters, sort=sort, cursor=cursor, limit=limit, now=now
    )
    return TaskPage(
        data=[TaskRead.model_validate(t, from_attributes=True) for t in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


def _settings(response: Response, settings: TaskSettings, tag: str) -> TaskSettingsRead:
    response.headers["ETag"] = tag
    return TaskSettingsRead.model_validate(to_document(settings))


@router.get(
    "/v1/task-settings",
    operation_id="getTaskSettings",
    summary="How tasks are assigned and when overdue ones escalate",
)
async def get_task_settings(
    session: SessionDep, principal: ReadPrincipal, response: Response
) -> TaskSettingsRead:
    settings, tag = await service.get_settings(session, principal)
    return _settings(response, settings, tag)


@router.patch(
    "/v1/task-settings",
    operation_id="updateTaskSettings",
    summary="Change the assignment fallback or the escalation of overdue tasks",
    description=(
        "Only the fields sent change. Escalation applies from the next run of the "
        "`tasks.escalate` job (every minute) to tasks not yet escalated."
    ),
)
async def update_task_settings(
    body: TaskSettingsUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> TaskSettingsRead:
    settings, tag = await service.update_settings(
        session, principal, body.model_dump(exclude_unset=True), if_match
    )
    return _settings(response, settings, tag)


@router.get("/v1/tasks/{task_id}", operation_id="getTask", summary="Get a task")
async def get_task(
    task_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, response: Response
) -> TaskRead:
    return _read(response, await service.get_task(session, principal, task_id))


@router.patch(
    "/v1/tasks/{task_id}",
    operation_id="updateTask",
    summary="Change a task's title, body, due date, priority, channel or owner",
    description="Done and cancelled tasks are final: 409.",
)
async def update_task(
    task_id: uuid.UUID,
    body: TaskUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskRead:
    task = await service.update_task(
        session, principal, task_id, body.model_dump(exclude_unset=True), if_match, now
    )
    return _read(response, task)


@router.delete(
    "/v1/tasks/{task_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteTask",
    summary="Delete a task made in error",
    description=(
        "Removes the task for good. To close a task that will not be done, keeping the "
        "record that reports count, cancel it instead (`POST /v1/tasks/{task_id}/cancel`)."
    ),
)
async def delete_task(
    task_id: uuid.UUID, session: SessionDep, principal: WritePrincipal, if_match: IfMatch = None
) -> None:
    await service.delete_task(session, principal, task_id, if_match)


@router.post(
    "/v1/tasks/{task_id}/complete",
    operation_id="completeTask",
    summary="Mark a task done, with its outcome",
    description=(
        "On a channel (given, or the task's own) a `touchpoint` event is logged for the "
        "client, once however often the call is retried: the client's last touchpoint, its "
        "cadence and `gone_quiet` reset. 409 when the task is already done or cancelled."
    ),
)
async def complete_task(
    task_id: uuid.UUID,
    body: TaskComplete,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskRead:
    sent = body.model_fields_set
    task = await service.complete_task(
        session,
        principal,
        task_id,
        outcome=body.outcome,
        channel=(str(body.channel) if body.channel else None) if "channel" in sent else PLANNED,
        occurred_at=body.occurred_at if "occurred_at" in sent else None,
        if_match=if_match,
        now=now,
    )
    return _read(response, task)


@router.post(
    "/v1/tasks/{task_id}/snooze",
    operation_id="snoozeTask",
    summary="Put a task aside until a time",
    description=(
        "It opens again by itself once the time passes (within a minute). A due date before "
        "that time moves to it. 409 when the task is done or cancelled."
    ),
)
async def snooze_task(
    task_id: uuid.UUID,
    body: TaskSnooze,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskRead:
    task = await service.snooze_task(session, principal, task_id, body.until, if_match, now)
    return _read(response, task)


@router.post(
    "/v1/tasks/{task_id}/reopen",
    operation_id="reopenTask",
    summary="Open a snoozed task now",
    description="409 unless the task is snoozed: done and cancelled tasks are final.",
)
async def reopen_task(
    task_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> TaskRead:
    task = await service.reopen_task(session, principal, task_id, if_match)
    return _read(response, task)


@router.post(
    "/v1/tasks/{task_id}/cancel",
    operation_id="cancelTask",
    summary="Close a task that will not be done",
    description="The task is kept, `cancelled`. 409 when it is already done or cancelled.",
)
async def cancel_task(
    task_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> TaskRead:
    task = await service.cancel_task(session, principal, task_id, if_match, now)
    return _read(response, task)
