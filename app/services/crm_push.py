"""Pushing clients' health to their CRM records: noting what is worth a push (a standing sync
of `health.changed`, or a `crm_update` action), and the debounced, batched push itself.

A change marks the client's link `pending_since` and asks for one `crm.push` per integration
due after the debounce; the push sends what the clients look like then (not what the change
said), so a burst of changes costs one write per client. Provider I/O happens only in the push:
a retryable failure rolls back and retries with the links still pending, so an outage loses
nothing."""

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import CrmLink, Integration
from app.db.repositories.crm import CrmLinkRepository, PendingPush, load_integrations
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.crm import (
    PUSH_BATCH,
    CrmOptions,
    HealthValues,
    flush_due,
    needs_push,
    parse_options,
    property_text,
    push_properties,
)
from app.domain.integrations import KINDS, IntegrationKind, Purpose
from app.facts import HealthChange
from app.integrations.base import CrmProvider, RecordsRejected, RecordUpdate

PUSH_JOB = "crm.push"
"""Its rows carry `{"integration_id": ...}`."""
ACTIVE = "active"


def crm_options(integration: Integration) -> CrmOptions | None:
    """The options of an active CRM integration; None for any other."""
    kind = IntegrationKind(integration.kind)
    if KINDS[kind].purpose is not Purpose.CRM or integration.status != ACTIVE:
        return None
    return parse_options(kind, integration.options or {})


async def request_push(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    integration_id: uuid.UUID,
    due: datetime,
    now: datetime,
    *,
    dedupe_key: str | None = None,
) -> bool:
    """One push per integration and moment: later requests for the same window write nothing."""
    message = NewMessage(
        kind=PUSH_JOB,
        payload={"integration_id": str(integration_id)},
        workspace_id=workspace_id,
        dedupe_key=dedupe_key or f"{PUSH_JOB}:{integration_id}:{due.isoformat()}",
        available_at=due,
    )
    return await OutboxRepository(session).add([message], now) == 1


@dataclass(frozen=True)
class Noted:
    clients: int
    pending: int
    unlinked: int

    def document(self) -> dict[str, int]:
        return {"clients": self.clients, "pending": self.pending, "unlinked": self.unlinked}


async def note_health_changes(
    session: AsyncSession, workspace_id: uuid.UUID, changes: Sequence[HealthChange], now: datetime
) -> Noted:
    """Marks the linked clients whose change the CRM should see and asks for their pushes.
    Clients without a link are counted, not pushed: a pull links them."""
    latest = {change.client_id: change for change in changes}
    links = await CrmLinkRepository(session).client_links(workspace_id, list(latest))
    integrations = await load_integrations(session, list({link.integration_id for link in links}))
    marked: list[uuid.UUID] = []
    due: dict[uuid.UUID, datetime] = {}
    for link in links:
        options = crm_options(integrations[link.integration_id])
        if options is None or not options.push.enabled:
            continue
        change = latest[link.local_id]
        if link.pending_since is None and not needs_push(
            link.pushed, change.score, change.band, options.push.score_threshold
        ):
            continue
        if link.pending_since is None:
            marked.append(link.id)
        due[link.integration_id] = flush_due(now, options.push.debounce_seconds)
    await CrmLinkRepository(session).mark_pending(marked, now)
    for integration_id, moment in due.items():
        await request_push(session, workspace_id, integration_id, moment, now)
    linked = {link.local_id for link in links}
    return Noted(len(latest), len(marked), len(set(latest) - linked))


async def force_push(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client_id: uuid.UUID,
    now: datetime,
    *,
    integration_id: uuid.UUID | None = None,
    properties: Mapping[str, Any] | None = None,
) -> list[uuid.UUID]:
    """The `crm_update` action: the client waits for a push whatever its threshold says, with
    the extra properties, and the push is asked for now. Returns the integrations it waits
    for (none: the client has no CRM record yet)."""
    links = await CrmLinkRepository(session).client_links(workspace_id, [client_id])
    integrations = await load_integrations(session, list({link.integration_id for link in links}))
    chosen: list[CrmLink] = []
    for link in links:
        if integration_id is not None and link.integration_id != integration_id:
            continue
        if crm_options(integrations[link.integration_id]) is not None:
            chosen.append(link)
    extra = {name: property_text(value) for name, value in (properties or {}).items()}
    repository = CrmLinkRepository(session)
    for link in chosen:
        await repository.add_pending_properties(link, extra, now)
        await request_push(session, workspace_id, link.integration_id, now, now)
    return [link.integration_id for link in chosen]


@dataclass(frozen=True)
class Pushed:
    pushed: int
    rejected: int
    more: bool

    def document(self) -> dict[str, Any]:
        return {"pushed": self.pushed, "rejected": self.rejected, "more": self.more}


async def push_pending(
    session: AsyncSession,
    provider: CrmProvider,
    integration: Integration,
    now: datetime,
    *,
    run_id: uuid.UUID,
) -> Pushed:
    """One batch of the integration's waiting clients, in one provider call; a next push is
    asked for at once when more wait. `ProviderError` other than a partial rejection
    propagates: the caller rolls back (the links stay pending) and retries or fails."""
    options = crm_options(integration)
    repository = CrmLinkRepository(session)
    if options is None:
        return Pushed(0, 0, False)
    batch = await repository.pending(integration.id, PUSH_BATCH)
    if not batch:
        return Pushed(0, 0, False)
    values = {item.link_id: _values(item) for item in batch}
    updates = [
        RecordUpdate(
            item.record_id,
            push_properties(
                options.push.fields, values[item.link_id], _extra(item.pending_properties)
            ),
        )
        for item in batch
    ]
    rejected: dict[str, str] = {}
    try:
        await provider.update_records(updates)
    except RecordsRejected as exc:
        rejected = exc.rejected
    refused = [item for item in batch if item.record_id in rejected]
    for item in batch:
        if item.record_id not in rejected:
            await repository.pushed(item.link_id, values[item.link_id].document(), now)
    for item in refused:
        await repository.refused([item.link_id], rejected[item.record_id], now, drop=True)
    more = len(batch) == PUSH_BATCH and await repository.has_pending(integration.id)
    if more:
        await request_push(
            session,
            integration.workspace_id,
            integration.id,
            now,
            now,
            dedupe_key=f"{PUSH_JOB}:{integration.id}:after:{run_id}",
        )
    return Pushed(len(batch) - len(refused), len(refused), more)


def _values(item: PendingPush) -> HealthValues:
    return HealthValues(item.score, item.band, item.last_touchpoint_at)


def _extra(document: Mapping[str, Any] | None) -> dict[str, str | None]:
    return {str(k): None if v is None else str(v) for k, v in (document or {}).items()}


async def record_failure(
    session: AsyncSession, integration_id: uuid.UUID, message: str, now: datetime
) -> None:
    """A push the CRM refused as a whole (a token revoked, a field it does not have): the
    reason stays on the waiting links, which keep waiting for the next push."""
    repository = CrmLinkRepository(session)
    batch = await repository.pending(integration_id, PUSH_BATCH)
    await repository.refused([item.link_id for item in batch], message, now, drop=False)


async def stale_integrations(
    session: AsyncSession, now: datetime, seconds: float
) -> list[tuple[uuid.UUID, uuid.UUID]]:
    return await CrmLinkRepository(session).stale_pending(now - timedelta(seconds=seconds))
