"""Signals: evaluation inside the caller's transaction, reads, acknowledgement, settings."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Signal, SignalSettingsRecord
from app.db.repositories.clients import ClientRepository
from app.db.repositories.owners import OwnerRepository
from app.db.repositories.paging import Page
from app.db.repositories.signal_facts import SignalFactsRepository
from app.db.repositories.signals import (
    NewSignal,
    SignalFilters,
    SignalRepository,
    StoredSignal,
)
from app.domain import signal_settings as settings_rules
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.domain.signal_settings import SignalSettings
from app.domain.signals import (
    ExistingSignal,
    ScoreTrend,
    Severity,
    SignalKind,
    SignalStatus,
    detect,
    plan,
)
from app.errors import Conflict, InvalidInput, NotFound
from app.facts import (
    Fact,
    OpenedSignal,
    ResolvedSignal,
    SignalsOpened,
    SignalsResolved,
)
from app.services.outbox import emit
from app.services.workspaces import get_workspace

DETECTED = frozenset(kind.value for kind in SignalKind)
"""The kinds detection evaluates; any other (`custom.…`) is a trigger's to open and resolve."""


async def evaluate_signals(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client_ids: Sequence[uuid.UUID],
    now: datetime,
    score_trends: Mapping[uuid.UUID, ScoreTrend],
) -> None:
    """Opens, refreshes and resolves the clients' signals at `now`, with `signal.opened` and
    `signal.resolved` outbox rows listing them. Flushes only: the caller owns the
    transaction."""
    repository = SignalRepository(session)
    settings = await load_settings(session, workspace_id)
    facts = await SignalFactsRepository(session).facts(workspace_id, client_ids, settings, now)
    unresolved = await repository.unresolved(workspace_id, [f.client_id for f in facts])
    to_open: list[NewSignal] = []
    to_refresh: list[tuple[uuid.UUID, str, dict[str, Any]]] = []
    to_resolve: list[StoredSignal] = []
    for client_facts in facts:
        rows = {
            SignalKind(s.kind): s
            for s in unresolved.get(client_facts.client_id, [])
            if s.kind in DETECTED
        }
        evaluation = detect(client_facts, score_trends.get(client_facts.client_id), settings, now)
        changes = plan(evaluation, {kind: _existing(row) for kind, row in rows.items()})
        to_open += [
            NewSignal(client_facts.client_id, d.kind.value, d.severity.value, d.figures)
            for d in changes.to_open
        ]
        # A late evaluation (an older job run after a newer one) must not undo the newer one.
        current = {row.id: row for row in rows.values() if row.evaluated_at <= now}
        to_refresh += [
            (i, d.severity.value, d.figures) for i, d in changes.to_refresh if i in current
        ]
        to_resolve += [current[e.id] for e in changes.to_resolve if e.id in current]
    await repository.refresh(to_refresh, now)
    resolved = await repository.resolve([s.id for s in to_resolve], now)
    opened = await repository.open(workspace_id, to_open, now)
    announced: list[Fact] = [
        *SignalsOpened.split([opened_fact(s, now) for s in to_open if s.id in opened]),
        *SignalsResolved.split([resolved_fact(s, now) for s in to_resolve if s.id in resolved]),
    ]
    await emit(session, announced, workspace_id=workspace_id, now=now)


def _existing(row: StoredSignal) -> ExistingSignal:
    return ExistingSignal(row.id, SignalKind(row.kind), Severity(row.severity), row.figures)


def opened_fact(signal: NewSignal, now: datetime) -> OpenedSignal:
    """What `signal.opened` tells of a signal opened at `now` (detected, or a trigger's)."""
    return OpenedSignal(
        signal_id=signal.id,
        client_id=signal.client_id,
        kind=signal.kind,
        severity=signal.severity,
        figures=signal.figures,
        opened_at=now,
    )


def resolved_fact(signal: StoredSignal, now: datetime) -> ResolvedSignal:
    """What `signal.resolved` tells of a signal resolved at `now`."""
    return ResolvedSignal(
        signal_id=signal.id,
        client_id=signal.client_id,
        kind=signal.kind,
        severity=signal.severity,
        figures=signal.figures,
        opened_at=signal.opened_at,
        acknowledged=signal.status == SignalStatus.ACKNOWLEDGED,
        resolved_at=now,
    )


async def list_signals(
    session: AsyncSession,
    principal: Principal,
    filters: SignalFilters,
    *,
    cursor: str | None,
    limit: int,
) -> Page[Signal]:
    return await SignalRepository(session).page(
        principal.workspace_id, filters, cursor=cursor, limit=limit
    )


async def list_client_signals(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    filters: SignalFilters,
    *,
    cursor: str | None,
    limit: int,
) -> Page[Signal]:
    if await ClientRepository(session).get(principal.workspace_id, client_id) is None:
        raise NotFound("client not found")
    filters = replace(filters, client_id=client_id)
    return await list_signals(session, principal, filters, cursor=cursor, limit=limit)


async def get_signal(session: AsyncSession, principal: Principal, signal_id: uuid.UUID) -> Signal:
    signal = await SignalRepository(session).get(principal.workspace_id, signal_id)
    if signal is None:
        raise NotFound("signal not found")
    return signal


async def acknowledge_signal(
    session: AsyncSession,
    principal: Principal,
    signal_id: uuid.UUID,
    owner_id: uuid.UUID,
    note: str | None,
    now: datetime,
) -> Signal:
    """An owner takes the signal in hand: it stays acknowledged until its condition clears."""
    signal = await get_signal(session, principal, signal_id)
    owner = await OwnerRepository(session).get(principal.workspace_id, owner_id)
    if owner is None or not owner.active:
        raise InvalidInput(
            "owner_id does not name an active owner of this workspace",
            errors=[{"loc": ["body", "owner_id"], "msg": "unknown owner", "type": "reference"}],
        )
    if signal.status == SignalStatus.RESOLVED:
        raise Conflict("the signal has resolved; there is nothing to acknowledge")
    if signal.status == SignalStatus.ACKNOWLEDGED:
        raise Conflict("the signal is already acknowledged")
    if not await SignalRepository(session).acknowledge(signal, owner.id, note, now):
        raise Conflict("the signal changed meanwhile; it is no longer open")
    await session.flush()
    return signal


async def load_settings(session: AsyncSession, workspace_id: uuid.UUID) -> SignalSettings:
    record = await SignalRepository(session).settings(workspace_id)
    if record is None:
        return settings_rules.DEFAULT_SETTINGS
    return settings_rules.from_document(record.settings)


async def get_settings(session: AsyncSession, principal: Principal) -> tuple[SignalSettings, str]:
    """The settings with their ETag (version 0 while the workspace runs on the defaults)."""
    record = await SignalRepository(session).settings(principal.workspace_id)
    if record is None:
        return settings_rules.DEFAULT_SETTINGS, etag(principal.workspace_id, 0)
    return (
        settings_rules.from_document(record.settings),
        etag(principal.workspace_id, record.version),
    )


async def update_settings(
    session: AsyncSession,
    principal: Principal,
    changes: Mapping[str, Any],
    if_match: str | None,
) -> tuple[SignalSettings, str]:
    workspace = await get_workspace(session, principal.workspace_id)
    repository = SignalRepository(session)
    current, tag = await get_settings(session, principal)
    check_if_match(if_match, tag)
    tiers = workspace.tiers if "tier_days" in changes.get("gone_quiet", {}) else None
    stages = (
        workspace.lifecycle_stages if "stage_days" in changes.get("stage_overdue", {}) else None
    )
    updated = settings_rules.validate(settings_rules.apply_changes(current, changes), tiers, stages)
    document = settings_rules.to_document(updated)
    record = await repository.settings(workspace.id)
    if record is None:
        record = SignalSettingsRecord(workspace_id=workspace.id, settings=document)
        await repository.add_settings(record)
    else:
        record.settings = document
    await session.flush()
    return updated, etag(workspace.id, record.version)
