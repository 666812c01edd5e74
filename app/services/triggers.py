"""Triggers as users write them: versioned definitions (validated whole, every problem in one
422), enable and disable, a preview of who matches now, manual runs, the record of runs and
the workspace's frequency cap. Evaluation itself is `app.services.trigger_engine`."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import (
    ActionRun,
    Trigger,
    TriggerRun,
    TriggerSettingsRecord,
    TriggerVersion,
    Workspace,
)
from app.db.repositories.actions import ActionRunRepository
from app.db.repositories.client_views import ClientViewRepository
from app.db.repositories.conditions import ConditionQuery
from app.db.repositories.owners import OwnerRepository
from app.db.repositories.paging import Page
from app.db.repositories.triggers import ClientSummary, RunFilters, TriggerRepository
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.domain.conditions import Condition, ConditionInvalid, evaluate, parse_condition
from app.domain.limits import json_size
from app.domain.pagination import Cursor, InvalidCursor, decode_cursor, encode_cursor
from app.domain.triggers import (
    CAP_WINDOW,
    DEFAULT_FREQUENCY_CAP,
    Definition,
    DefinitionInvalid,
    DefinitionProblem,
    Tally,
    WhenKind,
)
from app.errors import Conflict, InvalidInput, NotFound
from app.services import trigger_engine as engine
from app.services.workspaces import get_workspace

DEFINITION_FIELDS = ("when", "condition", "actions", "control")
MAX_DEFINITION_BYTES = 65_536
"""A definition is a few hundred bytes; this stops a pathological one at the door."""
MAX_MANUAL_CLIENTS = 100


@dataclass(frozen=True)
class TriggerView:
    trigger: Trigger
    version: TriggerVersion


@dataclass(frozen=True)
class PreviewPage:
    version: int
    clients: list[ClientSummary]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class ManualResult:
    client_id: uuid.UUID
    matched: bool
    outcome: str | None
    trigger_run_id: uuid.UUID | None
    detail: str | None


@dataclass(frozen=True)
class RunView:
    run: TriggerRun
    actions: list[ActionRun]


# --- definitions -----------------------------------------------------------------------------


def _loc(pointer: str) -> list[str | int]:
    loc: list[str | int] = ["body"]
    for part in pointer.split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        loc.append(int(part) if part.isdigit() else part)
    return loc


def _error(problem: DefinitionProblem) -> dict[str, Any]:
    return {"loc": _loc(problem.pointer), "msg": problem.message, "type": "value_error"}


async def check_definition(
    session: AsyncSession, workspace: Workspace, document: Mapping[str, Any]
) -> Definition:
    """The domain's checks and the workspace's references (stages, tiers, owners) as one 422
    listing every problem at its place in the body."""
    problems: list[DefinitionProblem] = []
    if (size := json_size(dict(document))) > MAX_DEFINITION_BYTES:
        message = f"takes {size} bytes; at most {MAX_DEFINITION_BYTES}"
        raise InvalidInput(
            "the trigger is too large", errors=[_error(DefinitionProblem("", message))]
        )
    definition = None
    try:
        definition = engine.parse(document)
    except DefinitionInvalid as exc:
        problems += exc.problems
    problems += await _reference_problems(session, workspace, document.get("actions"))
    if problems or definition is None:
        raise InvalidInput("the trigger is not valid", errors=[_error(p) for p in problems])
    return definition


async def _reference_problems(
    session: AsyncSession, workspace: Workspace, actions: Any
) -> list[DefinitionProblem]:
    """What only the workspace knows: its stages and tiers, its owners."""
    if not isinstance(actions, list):
        return []
    problems = []
    owners = OwnerRepository(session)
    for index, action in enumerate(actions):
        if not isinstance(action, dict) or not isinstance(action.get("params"), dict):
            continue
        params, at = action["params"], f"/actions/{index}/params"
        if action.get("kind") == "set_fields":
            stage, tier = params.get("stage"), params.get("tier")
            if isinstance(stage, str) and stage not in workspace.lifecycle_stages:
                problems.append(DefinitionProblem(f"{at}/stage", "not a stage of this workspace"))
            if isinstance(tier, str) and tier not in workspace.tiers:
                problems.append(DefinitionProblem(f"{at}/tier", "not a tier of this workspace"))
        owner = params.get("owner_id") if action.get("kind") == "create_task" else None
        if isinstance(owner, str):
            try:
                found = await owners.get(workspace.id, uuid.UUID(owner))
            except ValueError:
                continue  # the kind's own check reports it
            if found is None:
                problems.append(DefinitionProblem(f"{at}/owner_id", "no such owner"))
    return problems


def _next_due(trigger: Trigger, definition: Definition, now: datetime) -> datetime | None:
    cron = definition.when.cron
    return cron.next_after(now) if cron is not None and trigger.enabled else None


async def create_trigger(
    session: AsyncSession, principal: Principal, data: Mapping[str, Any], now: datetime
) -> TriggerView:
    workspace = await get_workspace(session, principal.workspace_id)
    document = {k: data[k] for k in DEFINITION_FIELDS if k in data}
    definition = await check_definition(session, workspace, document)
    trigger = Trigger(
        id=uuid.uuid4(),
        workspace_id=workspace.id,
        name=data["name"],
        description=data.get("description"),
        when_kind=definition.when.kind.value,
        enabled=bool(data.get("enabled", True)),
        current_version=1,
        revision=1,
        created_at=now,
        updated_at=now,
    )
    trigger.next_due_at = _next_due(trigger, definition, now)
    version = TriggerVersion(
        trigger_id=trigger.id,
        version=1,
        workspace_id=workspace.id,
        definition=definition.document(),
        created_at=now,
    )
    await TriggerRepository(session).add(trigger, version)
    return TriggerView(trigger, version)


async def update_trigger(
    session: AsyncSession,
    principal: Principal,
    trigger_id: uuid.UUID,
    changes: Mapping[str, Any],
    if_match: str | None,
    now: datetime,
) -> TriggerView:
    """Name, description and `enabled` change the trigger; a changed definition (any of
    when, condition, actions, control, each replaced whole) is a new version."""
    workspace = await get_workspace(session, principal.workspace_id)
    repository = TriggerRepository(session)
    trigger, current = await _load(session, principal.workspace_id, trigger_id, lock=True)
    check_if_match(if_match, etag(trigger.id, trigger.revision))
    document = {**current.definition, **{k: changes[k] for k in DEFINITION_FIELDS if k in changes}}
    definition = await check_definition(session, workspace, document)
    for name in ("name", "description", "enabled"):
        if name in changes:
            setattr(trigger, name, changes[name])
    version = current
    if definition.document() != current.definition:
        trigger.current_version += 1
        version = TriggerVersion(
            trigger_id=trigger.id,
            version=trigger.current_version,
            workspace_id=workspace.id,
            definition=definition.document(),
            created_at=now,
        )
        await repository.add_version(version)
    trigger.when_kind = definition.when.kind.value
    trigger.next_due_at = _next_due(trigger, definition, now)
    trigger.revision += 1
    trigger.updated_at = now
    await session.flush()
    return TriggerView(trigger, version)


async def delete_trigger(
    session: AsyncSession,
    principal: Principal,
    trigger_id: uuid.UUID,
    if_match: str | None,
    now: datetime,
) -> None:
    """Archives: its runs keep naming it, and its pending actions are skipped."""
    trigger, _ = await _load(session, principal.workspace_id, trigger_id, lock=True)
    check_if_match(if_match, etag(trigger.id, trigger.revision))
    trigger.archived_at = now
    trigger.enabled = False
    trigger.next_due_at = None
    trigger.revision += 1
    trigger.updated_at = now
    await session.flush()


async def get_trigger(
    session: AsyncSession, principal: Principal, trigger_id: uuid.UUID
) -> TriggerView:
    return TriggerView(*await _load(session, principal.workspace_id, trigger_id))


async def list_triggers(
    session: AsyncSession,
    principal: Principal,
    *,
    when_kind: str | None,
    enabled: bool | None,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[TriggerView]:
    repository = TriggerRepository(session)
    page = await repository.page(
        principal.workspace_id,
        when_kind=when_kind,
        enabled=enabled,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    versions = await repository.current_versions(principal.workspace_id, page.items)
    views = [TriggerView(t, versions[t.id]) for t in page.items]
    return Page(items=views, next_cursor=page.next_cursor, has_more=page.has_more)


async def list_versions(
    session: AsyncSession, principal: Principal, trigger_id: uuid.UUID
) -> list[TriggerVersion]:
    trigger, _ = await _load(session, principal.workspace_id, trigger_id)
    return await TriggerRepository(session).versions(principal.workspace_id, trigger.id)


async def _load(
    session: AsyncSession, workspace_id: uuid.UUID, trigger_id: uuid.UUID, *, lock: bool = False
) -> tuple[Trigger, TriggerVersion]:
    repository = TriggerRepository(session)
    trigger = await repository.get(workspace_id, trigger_id, for_update=lock)
    if trigger is None:
        raise NotFound("trigger not found")
    version = await repository.version(workspace_id, trigger.id, trigger.current_version)
    if version is None:  # pragma: no cover - written together
        raise NotFound("trigger not found")
    return trigger, version


# --- preview and manual runs -----------------------------------------------------------------


async def preview(
    session: AsyncSession,
    principal: Principal,
    trigger_id: uuid.UUID,
    draft: Any,
    *,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> PreviewPage:
    """The clients the condition (the current one, or a draft) holds for now, by id, one
    statement per page; nothing is stored."""
    _, version = await _load(session, principal.workspace_id, trigger_id)
    if draft is not None:
        condition = _condition(draft)
    else:
        try:
            condition = engine.parse(version.definition).condition
        except DefinitionInvalid as exc:
            raise Conflict(f"the stored definition no longer holds: {exc}") from exc
    after = _after(cursor)
    ids = await ConditionQuery(session).matching_client_ids(
        principal.workspace_id, condition, now, after=after, limit=limit + 1
    )
    page = ids[:limit]
    summaries = await TriggerRepository(session).client_summaries(principal.workspace_id, page)
    has_more = len(ids) > limit
    next_cursor = encode_cursor(Cursor("id", [str(page[-1])])) if has_more and page else None
    return PreviewPage(version.version, summaries, next_cursor, has_more)


def _condition(draft: Any) -> Condition:
    try:
        return parse_condition(draft)
    except ConditionInvalid as exc:
        errors = [
            _error(DefinitionProblem(f"/condition{p.pointer}", p.message)) for p in exc.problems
        ]
        raise InvalidInput("the condition is not valid", errors=errors) from exc


def _after(cursor: str | None) -> uuid.UUID | None:
    if cursor is None:
        return None
    values = decode_cursor(cursor, "id").values
    try:
        return uuid.UUID(str(values[0]))
    except (ValueError, IndexError) as exc:
        raise InvalidCursor("the cursor is not one this API issued") from exc


async def run_trigger(
    session: AsyncSession,
    principal: Principal,
    trigger_id: uuid.UUID,
    client_ids: Sequence[uuid.UUID],
    *,
    force: bool,
    now: datetime,
) -> tuple[TriggerView, list[ManualResult]]:
    """Fires the trigger by hand for the given clients: the condition and the control policy
    decide as for any firing, unless `force`, which skips both (and the holdout)."""
    workspace_id = principal.workspace_id
    trigger, version = await _load(session, workspace_id, trigger_id, lock=True)
    if not trigger.enabled:
        raise Conflict("the trigger is disabled; enable it to run it")
    live = engine.live_trigger(trigger, version)
    if live is None:
        raise Conflict("the trigger's definition names an action kind this version lacks")
    ordered = list(dict.fromkeys(client_ids))
    views = await ClientViewRepository(session).load(
        workspace_id, ordered, now, reads=engine.reads([live.definition.condition])
    )
    unknown = [
        {"loc": ["body", "client_ids", i], "msg": "no such client", "type": "reference"}
        for i, client_id in enumerate(client_ids)
        if client_id not in views
    ]
    if unknown:
        raise InvalidInput("some client_ids name no client of this workspace", errors=unknown)
    candidates = []
    for client_id in ordered:
        evaluation = evaluate(live.definition.condition, views[client_id])
        if force or evaluation.matched:
            candidates.append(engine.Candidate(client_id, evaluation.values))
    tally = Tally(
        await engine.frequency_cap(session, workspace_id),
        await TriggerRepository(session).fired_since(
            workspace_id, [c.client_id for c in candidates], now - CAP_WINDOW
        ),
    )
    decided = await engine.decide_and_record(
        session,
        workspace_id,
        live,
        candidates,
        tally,
        now,
        fact_kind=WhenKind.MANUAL.value,
        fact_id=None,
        summary=engine.Summary(),
        force=force,
    )
    by_client = {d.client_id: d for d in decided}
    results = []
    for client_id in ordered:
        found = by_client.get(client_id)
        if found is None:
            results.append(
                ManualResult(client_id, False, None, None, "the condition does not hold")
            )
        else:
            outcome = found.decision.outcome.value
            results.append(
                ManualResult(client_id, True, outcome, found.run_id, found.decision.detail)
            )
    return TriggerView(trigger, version), results


# --- runs and settings -----------------------------------------------------------------------


async def list_runs(
    session: AsyncSession,
    principal: Principal,
    filters: RunFilters,
    *,
    cursor: str | None,
    limit: int,
) -> Page[RunView]:
    page = await TriggerRepository(session).runs(
        principal.workspace_id, filters, cursor=cursor, limit=limit
    )
    actions = await ActionRunRepository(session).for_trigger_runs(
        principal.workspace_id, [r.id for r in page.items]
    )
    views = [RunView(r, actions.get(r.id, [])) for r in page.items]
    return Page(items=views, next_cursor=page.next_cursor, has_more=page.has_more)


async def get_run(session: AsyncSession, principal: Principal, run_id: uuid.UUID) -> RunView:
    run = await TriggerRepository(session).get_run(principal.workspace_id, run_id)
    if run is None:
        raise NotFound("trigger run not found")
    actions = await ActionRunRepository(session).for_trigger_runs(principal.workspace_id, [run.id])
    return RunView(run, actions.get(run.id, []))


async def get_settings(session: AsyncSession, principal: Principal) -> tuple[int, str]:
    """The frequency cap with its ETag (version 0 while the workspace runs on the default)."""
    record = await TriggerRepository(session).settings(principal.workspace_id)
    if record is None:
        return DEFAULT_FREQUENCY_CAP, etag(principal.workspace_id, 0)
    return record.max_firings_per_client_per_day, etag(principal.workspace_id, record.version)


async def update_settings(
    session: AsyncSession, principal: Principal, cap: int, if_match: str | None, now: datetime
) -> tuple[int, str]:
    repository = TriggerRepository(session)
    _, tag = await get_settings(session, principal)
    check_if_match(if_match, tag)
    record = await repository.settings(principal.workspace_id)
    if record is None:
        record = TriggerSettingsRecord(
            workspace_id=principal.workspace_id,
            max_firings_per_client_per_day=cap,
            created_at=now,
            updated_at=now,
        )
        await repository.add_settings(record)
    else:
        record.max_firings_per_client_per_day = cap
        record.updated_at = now
        await session.flush()
    return cap, etag(principal.workspace_id, record.version)
