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
from app.api.rest.schemas.common import QueryBool
from app.api.rest.schemas.triggers import (
    ActionRunRead,
    ConditionFieldRead,
    ManualResultRead,
    MatchingClientRead,
    TriggerCreate,
    TriggerPage,
    TriggerPreviewRead,
    TriggerPreviewRequest,
    TriggerRead,
    TriggerRunPage,
    TriggerRunRead,
    TriggerRunRequest,
    TriggerRunResultRead,
    TriggerSettingsRead,
    TriggerSettingsUpdate,
    TriggerUpdate,
    TriggerVersionRead,
)
from app.db.repositories.triggers import RunFilters
from app.domain.conditions import fields_document
from app.domain.triggers import Outcome, WhenKind
from app.services import triggers as service
from app.services.triggers import RunView, TriggerView

router = APIRouter(tags=["triggers"])
TriggerSort = Literal["created_at", "-created_at", "name", "-name"]


def to_read(view: TriggerView) -> TriggerRead:
    t, definition = view.trigger, view.version.definition
    return TriggerRead(
        id=t.id,
        name=t.name,
        description=t.description,
        enabled=t.enabled,
        version=t.current_version,
        when=definition["when"],
        condition=definition["condition"],
        actions=definition["actions"],
        control=definition["control"],
        next_due_at=t.next_due_at,
        created_at=t.created_at,
        updated_at=t.updated_at,
    )


def _read(response: Response, view: TriggerView) -> TriggerRead:
    set_etag(response, view.trigger.id, view.trigger.revision)
    return to_read(view)


def run_read(view: RunView) -> TriggerRunRead:
    r = view.run
    return TriggerRunRead(
        id=r.id,
        trigger_id=r.trigger_id,
        trigger_version=r.trigger_version,
        client_id=r.client_id,
        fact_kind=r.fact_kind,
        fact_id=r.fact_id,
        signal_id=r.signal_id,
        outcome=r.outcome,
        holdout=r.holdout,
        detail=r.detail,
        condition_values=r.condition_values,
        created_at=r.created_at,
        actions=[ActionRunRead.model_validate(a, from_attributes=True) for a in view.actions],
    )


@router.post(
    "/v1/triggers",
    status_code=status.HTTP_201_CREATED,
    operation_id="createTrigger",
    summary="Create a trigger: when, if, then, and its control policy",
    description="The definition is checked whole: every problem is listed in one 422, each at "
    "its place in the body.",
)
async def create_trigger(
    body: TriggerCreate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
) -> TriggerRead:
    view = await service.create_trigger(session, principal, body.model_dump(), now)
    set_location(response, f"/v1/triggers/{view.trigger.id}")
    return _read(response, view)


@router.get("/v1/triggers", operation_id="listTriggers", summary="List triggers")
async def list_triggers(
    session: SessionDep,
    principal: ReadPrincipal,
    when: Annotated[WhenKind | None, Query(description="Only triggers of this kind.")] = None,
    enabled: QueryBool | None = None,
    sort: TriggerSort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> TriggerPage:
    page = await service.list_triggers(
        session,
        principal,
        when_kind=None if when is None else when.value,
        enabled=enabled,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return TriggerPage(
        data=[to_read(v) for v in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get(
    "/v1/triggers/fields",
    operation_id="listConditionFields",
    summary="The fields a trigger's condition can read, with their operators",
)
async def list_condition_fields(principal: ReadPrincipal) -> list[ConditionFieldRead]:
    return [ConditionFieldRead.model_validate(f) for f in fields_document()]


@router.get("/v1/triggers/{trigger_id:uuid}", operation_id="getTrigger", summary="Get a trigger")
async def get_trigger(
    trigger_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, response: Response
) -> TriggerRead:
    return _read(response, await service.get_trigger(session, principal, trigger_id))


@router.patch(
    "/v1/triggers/{trigger_id:uuid}",
    operation_id="updateTrigger",
    summary="Edit, enable or disable a trigger; a changed definition is a new version",
)
async def update_trigger(
    trigger_id: uuid.UUID,
    body: TriggerUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> TriggerRead:
    changes = body.model_dump(exclude_unset=True)
    view = await service.update_trigger(session, principal, trigger_id, changes, if_match, now)
    return _read(response, view)


@router.delete(
    "/v1/triggers/{trigger_id:uuid}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteTrigger",
    summary="Delete a trigger (its runs are kept; its pending actions are skipped)",
)
async def delete_trigger(
    trigger_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    if_match: IfMatch = None,
) -> None:
    await service.delete_trigger(session, principal, trigger_id, if_match, now)


@router.get(
    "/v1/triggers/{trigger_id:uuid}/versions",
    operation_id="listTriggerVersions",
    summary="Every version of a trigger's definition, newest first",
)
async def list_versions(
    trigger_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal
) -> list[TriggerVersionRead]:
    versions = await service.list_versions(session, principal, trigger_id)
    return [
        TriggerVersionRead(version=v.version, created_at=v.created_at, **v.definition)
        for v in versions
    ]


@router.post(
    "/v1/triggers/{trigger_id:uuid}/preview",
    operation_id="previewTrigger",
    summary="The clients the trigger's condition holds for now; stores nothing",
    description="One SQL statement per page, in client id order. Send `{}` to preview the "
    "current version, or a `condition` to try a draft.",
)
async def preview_trigger(
    trigger_id: uuid.UUID,
    body: TriggerPreviewRequest,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> TriggerPreviewRead:
    draft = None
    if "condition" in body.model_fields_set:
        draft = body.condition or {}
    page = await service.preview(
        session, principal, trigger_id, draft, cursor=cursor, limit=limit, now=now
    )
    return TriggerPreviewRead(
        version=page.version,
        data=[MatchingClientRead.model_validate(c, from_attributes=True) for c in page.clients],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.post(
    "/v1/triggers/{trigger_id:uuid}/run",
    operation_id="runTrigger",
    summary="Fire a trigger by hand for given clients",
    description="The condition and the control policy decide as for any firing (each decision "
    "is a trigger run), unless `force`.",
)
async def run_trigger(
    trigger_id: uuid.UUID,
    body: TriggerRunRequest,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
) -> TriggerRunResultRead:
    view, results = await service.run_trigger(
        session, principal, trigger_id, body.client_ids, force=body.force, now=now
    )
    return TriggerRunResultRead(
        trigger_id=view.trigger.id,
        version=view.version.version,
        results=[ManualResultRead.model_validate(r, from_attributes=True) for r in results],
    )


@router.get(
    "/v1/trigger-runs",
    operation_id="listTriggerRuns",
    summary="Every firing decision, newest first, with its actions",
)
async def list_trigger_runs(
    session: SessionDep,
    principal: ReadPrincipal,
    trigger_id: uuid.UUID | None = None,
    client_id: uuid.UUID | None = None,
    outcome: Annotated[
        list[Outcome] | None,
        Query(description="Only these outcomes; repeat the parameter for several."),
    ] = None,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> TriggerRunPage:
    filters = RunFilters(
        trigger_id=trigger_id,
        client_id=client_id,
        outcomes=tuple(o.value for o in outcome or ()),
    )
    page = await service.list_runs(session, principal, filters, cursor=cursor, limit=limit)
    return TriggerRunPage(
        data=[run_read(v) for v in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get(
    "/v1/trigger-runs/{run_id:uuid}",
    operation_id="getTriggerRun",
    summary="One firing decision with each action's status, attempts and result",
)
async def get_trigger_run(
    run_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal
) -> TriggerRunRead:
    return run_read(await service.get_run(session, principal, run_id))


@router.get(
    "/v1/trigger-settings",
    operation_id="getTriggerSettings",
    summary="The workspace's frequency cap across all triggers",
)
async def get_trigger_settings(
    session: SessionDep, principal: ReadPrincipal, response: Response
) -> TriggerSettingsRead:
    cap, tag = await service.get_settings(session, principal)
    response.headers["ETag"] = tag
    return TriggerSettingsRead(max_firings_per_client_per_day=cap)


@router.patch(
    "/v1/trigger-settings",
    operation_id="updateTriggerSettings",
    summary="Change the frequency cap",
)
async def update_trigger_settings(
    body: TriggerSettingsUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> TriggerSettingsRead:
    cap, tag = await service.update_settings(
        session, principal, body.max_firings_per_client_per_day, if_match, now
    )
    response.headers["ETag"] = tag
    return TriggerSettingsRead(max_firings_per_client_per_day=cap)
