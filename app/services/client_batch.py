"""Bulk upsert of clients by external id: a CRM's first import in a few calls, at ingest speed.

Set-based like event ingestion: one read of the batch's clients and owners, every item planned
in the domain, then a few statements for the whole batch (inserts, one UPDATE run for every
changed client, the stage changes), one `clients.changed` announcement. Every item is reported
(created, updated, unchanged, rejected with its reasons); valid items are stored even when
others fail.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories.client_batch import ClientBatchRepository
from app.domain.api_keys import Principal
from app.domain.client_batch import (
    ClientItem,
    Outcome,
    Planned,
    Rejected,
    StoredClient,
    Vocabulary,
    plan,
    repeats,
)
from app.services.clients import ClientLimits, derive_acquisitions
from app.services.events import ItemProblem
from app.services.outbox import announce_changed_clients
from app.services.workspaces import get_workspace


class ItemStatus(StrEnum):
    CREATED = "created"
    UPDATED = "updated"
    UNCHANGED = "unchanged"
    REJECTED = "rejected"


@dataclass(frozen=True)
class ItemResult:
    index: int
    status: ItemStatus
    external_id: str | None
    id: uuid.UUID | None = None
    problem: ItemProblem | None = None


async def upsert_clients(
    session: AsyncSession,
    principal: Principal,
    items: list[ClientItem | Rejected],
    limits: ClientLimits,
    now: datetime,
) -> list[ItemResult]:
    """One transaction for the whole batch; flushes only."""
    workspace = await get_workspace(session, principal.workspace_id)
    repo = ClientBatchRepository(session)
    results: dict[int, ItemResult] = {}
    valid = [item for item in items if isinstance(item, ClientItem)]
    for item in items:
        if isinstance(item, Rejected):
            results[item.index] = _rejected(item)
    for repeat, first in repeats(valid).items():
        message = f"repeats the external_id of item {first}; send one item per client"
        problem = Rejected(repeat, items[repeat].external_id, [_repeat_error(message)])
        results[repeat] = _rejected(problem)
    valid = [item for item in valid if item.index not in results]

    stored = await repo.stored(workspace.id, [item.external_id for item in valid])
    owners = {i.fields["owner_id"] for i in valid if i.fields.get("owner_id") is not None}
    vocabulary = Vocabulary(
        tiers=workspace.tiers,
        stages=workspace.lifecycle_stages,
        owners=await repo.owners(workspace.id, owners),
        max_attributes_bytes=limits.max_attributes_bytes,
    )
    plans = _plan(valid, stored, vocabulary, now, results)

    new = [p for p in plans if p.outcome is Outcome.CREATED]
    inserted = await repo.insert(
        workspace.id, [(p.client_id, p.external_id, p.values) for p in new], now
    )
    if lost := {p.index for p in new if p.client_id not in inserted}:
        # A concurrent request created these first (PostgreSQL waited for its commit): apply
        # the items to the clients it made, as a retried batch expects.
        retry = [item for item in valid if item.index in lost]
        made = await repo.stored(workspace.id, [item.external_id for item in retry])
        plans = [p for p in plans if p.index not in lost]
        plans += [p for p in _plan(retry, made, vocabulary, now, results) if p.index in lost]
        inserted_now = {p.client_id for p in plans if p.outcome is Outcome.CREATED}
        for p in [p for p in plans if p.client_id in inserted_now - inserted]:
            message = "was created and removed by other requests meanwhile; send it again"
            plans.remove(p)
            results[p.index] = _rejected(
                Rejected(p.index, p.external_id, [_repeat_error(message)]), status=409
            )
    changed = [p for p in plans if p.outcome is Outcome.UPDATED]
    await repo.update([(p.client_id, p.values) for p in changed], now)
    written = [p for p in plans if p.outcome is Outcome.UPDATED or p.client_id in inserted]
    await repo.add_stage_changes(
        [
            {
                "id": uuid.uuid4(),
                "workspace_id": workspace.id,
                "client_id": p.client_id,
                "from_stage": p.stage_change.from_stage,
                "to_stage": p.stage_change.to_stage,
                "changed_at": p.stage_change.changed_at,
            }
            for p in written
            if p.stage_change is not None
        ]
    )
    await repo.recount_escalations([p.client_id for p in changed if p.recount_escalations])
    await derive_acquisitions(session, workspace.id, {p.client_id for p in changed if p.rederive})
    previous = {s.id: s.values for s in stored.values()}
    # A new client's watched fields change from nothing: its tier cadence takes it at once.
    edits = [(p.client_id, previous.get(p.client_id, {}), p.values) for p in written]
    written_ids = {p.client_id for p in written}
    await announce_changed_clients(session, workspace.id, written_ids, now, edits=edits)
    await session.flush()

    for p in plans:
        results[p.index] = ItemResult(
            p.index, ItemStatus(p.outcome.value), p.external_id, p.client_id
        )
    return [results[i] for i in range(len(items))]


def _plan(
    items: list[ClientItem],
    stored: dict[str, StoredClient],
    vocabulary: Vocabulary,
    now: datetime,
    results: dict[int, ItemResult],
) -> list[Planned]:
    """Each item's plan; the rejected ones go to `results`."""
    plans: list[Planned] = []
    for item in items:
        planned = plan(item, stored.get(item.external_id), vocabulary, now)
        if isinstance(planned, Rejected):
            results[item.index] = _rejected(planned)
        else:
            plans.append(planned)
    return plans


def _repeat_error(message: str) -> dict[str, object]:
    return {"loc": ["external_id"], "msg": message, "type": "conflict"}


def _rejected(item: Rejected, status: int = 422) -> ItemResult:
    title = "Conflict" if status == 409 else "Unprocessable content"
    problem = ItemProblem(status, title, item.detail, item.errors)
    return ItemResult(item.index, ItemStatus.REJECTED, item.external_id, problem=problem)
