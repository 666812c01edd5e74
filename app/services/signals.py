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
from app.db.repositories.signals import NewSignal, SignalFilters, SignalRepository
from app.domain import signal_settings as settings_rules
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.domain.jobs import OutboxKind
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
from app.services.outbox import emit
from app.services.workspaces import get_workspace


async def evaluate_signals(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client_ids: Sequence[uuid.UUID],
    now: datetime,
    score_trends: Mapping[uuid.UUID, ScoreTrend],
) -> None:
    """Opens, refreshes and resolves the clients' signals at `now`, with an outbox row for
    each one opened or resolved. Flushes only: the caller owns the transaction."""
    repository = SignalRepository(session)
    settings = await load_settings(session, workspace_id)
    facts = await repository.facts(workspace_id, client_ids, settings, now)
    unresolved = await repository.unresolved(workspace_id, [f.client_id for f in facts])
    to_open: list[NewSignal] = []
    resolved: list[Signal] = []
    for client_facts in facts:
        rows = {SignalKind(s.kind): s for s in unresolved.get(client_facts.client_id, [])}
        evaluation = detect(client_facts, score_trends.get(client_facts.client_id), settings, now)
        changes = plan(evaluation, {kind: _existing(row) for kind, row in rows.items()})
        for detection in changes.to_open:
            to_open.append(
                NewSignal(
                    client_facts.client_id,
                    detection.kind.value,
                    detection.severity.value,
                    detection.figures,
                )
            )
        # A late evaluation (an older job run after a newer one) must not undo the newer one.
        by_id = {row.id: row for row in rows.values() if row.evaluated_at <= now}
        for signal_id, detection in changes.to_refresh:
            if (row := by_id.get(signal_id)) is None:
                continue
            row.severity = detection.severity.value
            row.figures = detection.figures
            row.evaluated_at = now
        for existing in changes.to_resolve:
            if (row := by_id.get(existing.id)) is None:
                continue
            row.status = SignalStatus.RESOLVED.value
            row.resolved_at = now
            row.evaluated_at = now
            resolved.append(row)
    await repository.flush()
    opened = await repository.open(workspace_id, to_open, now)
    for signal in opened:
        await emit(
            session, OutboxKind.SIGNAL_OPENED, _payload(signal), workspace_id=workspace_id, now=now
        )
    for signal in resolved:
        await emit(
            session,
            OutboxKind.SIGNAL_RESOLVED,
            _payload(signal),
            workspace_id=workspace_id,
            now=now,
        )


def _existing(row: Signal) -> ExistingSignal:
    return ExistingSignal(row.id, SignalKind(row.kind), Severity(row.severity), row.figures)


def _payload(signal: Signal) -> dict[str, Any]:
    return {
        "signal_id": str(signal.id),
        "client_id": str(signal.client_id),
        "kind": signal.kind,
        "severity": signal.severity,
        "status": signal.status,
        "figures": signal.figures,
        "opened_at": signal.opened_at.isoformat(),
        "resolved_at": signal.resolved_at.isoformat() if signal.resolved_at else None,
    }


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
    await session.commit()
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
    await session.commit()
    return updated, etag(workspace.id, record.version)
