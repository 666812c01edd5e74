"""The book of business: clients, their lifecycle, churn and revenue read model."""

import uuid
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, ClientStageChange, Contract, Workspace
from app.db.repositories.clients import ClientFilters, ClientRepository
from app.db.repositories.contracts import ContractRepository
from app.db.repositories.events import EventRepository
from app.db.repositories.owners import OwnerRepository
from app.db.repositories.paging import Page
from app.domain import clients as rules
from app.domain.api_keys import Principal
from app.domain.client_changes import WATCHED_COLUMNS
from app.domain.concurrency import check_if_match, etag
from app.domain.contracts import ContractStatus, ContractTerms, mrr, next_renewal_on
from app.errors import Conflict, InvalidInput, NotFound, PreconditionFailed
from app.services.outbox import announce_changed_clients
from app.services.workspaces import get_workspace


@dataclass(frozen=True)
class ClientView:
    """A client with the revenue facts derived from its contracts."""

    client: Client
    mrr: dict[str, Decimal]
    next_renewal_on: date | None


@dataclass(frozen=True)
class ClientLimits:
    max_attributes_bytes: int


async def create_client(
    session: AsyncSession,
    principal: Principal,
    data: dict[str, Any],
    limits: ClientLimits,
    now: datetime,
) -> ClientView:
    workspace = await get_workspace(session, principal.workspace_id)
    client = Client(workspace_id=workspace.id, attributes={}, status=rules.ClientStatus.ACTIVE)
    await _apply(session, workspace, client, data, limits, now, creating=True)
    await _announce(session, client, {}, now)
    await session.flush()
    return await _view(session, principal, client, now)


async def upsert_client_by_external_id(
    session: AsyncSession,
    principal: Principal,
    external_id: str,
    data: dict[str, Any],
    limits: ClientLimits,
    if_match: str | None,
    now: datetime,
) -> tuple[ClientView, bool]:
    """Create-or-update by the CRM's id; returns the view and whether it was created."""
    workspace = await get_workspace(session, principal.workspace_id)
    client = await ClientRepository(session).find_by_external_id(workspace.id, external_id)
    created = client is None
    if client is None:
        if if_match is not None:  # RFC 9110: If-Match, even `*`, is false without a resource
            raise PreconditionFailed(f"no client has external_id {external_id!r}")
        if "name" not in data:
            raise InvalidInput(
                "name is required to create a client",
                errors=[{"loc": ["body", "name"], "msg": "Field required", "type": "missing"}],
            )
        client = Client(workspace_id=workspace.id, attributes={}, status=rules.ClientStatus.ACTIVE)
    else:
        check_if_match(if_match, etag(client.id, client.version))
    before = watched(client)
    await _apply(
        session,
        workspace,
        client,
        {**data, "external_id": external_id},
        limits,
        now,
        creating=created,
    )
    await _announce(session, client, {} if created else before, now)
    await session.flush()
    return await _view(session, principal, client, now), created


async def get_client(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID, now: datetime
) -> ClientView:
    return await _view(session, principal, await load_client(session, principal, client_id), now)


async def load_client(session: AsyncSession, principal: Principal, client_id: uuid.UUID) -> Client:
    client = await ClientRepository(session).get(principal.workspace_id, client_id)
    if client is None:
        raise NotFound("client not found")
    return client


async def list_clients(
    session: AsyncSession,
    principal: Principal,
    filters: ClientFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> Page[ClientView]:
    page = await ClientRepository(session).page(
        principal.workspace_id, filters, sort=sort, cursor=cursor, limit=limit
    )
    views = await _views(session, principal, page.items, now)
    return Page(items=views, next_cursor=page.next_cursor, has_more=page.has_more)


async def update_client(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    changes: dict[str, Any],
    limits: ClientLimits,
    if_match: str | None,
    now: datetime,
) -> ClientView:
    client = await change_client(
        session, principal.workspace_id, client_id, changes, limits, now, if_match=if_match
    )
    return await _view(session, principal, client, now)


async def change_client(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client_id: uuid.UUID,
    changes: dict[str, Any],
    limits: ClientLimits,
    now: datetime,
    *,
    if_match: str | None = None,
) -> Client:
    """An edit of a client's fields by whoever acts for the workspace: a request, or a
    trigger's `set_fields` action (which has no API key)."""
    workspace = await get_workspace(session, workspace_id)
    client = await ClientRepository(session).get(workspace_id, client_id)
    if client is None:
        raise NotFound("client not found")
    check_if_match(if_match, etag(client.id, client.version))
    before = watched(client)
    await _apply(session, workspace, client, changes, limits, now, creating=False)
    await _announce(session, client, before, now)
    await session.flush()
    return client


async def delete_client(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID, if_match: str | None
) -> None:
    client = await load_client(session, principal, client_id)
    check_if_match(if_match, etag(client.id, client.version))
    await ClientRepository(session).delete(client)
    await session.flush()


async def churn_client(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    reason: str,
    occurred_at: datetime | None,
    if_match: str | None,
    now: datetime,
) -> ClientView:
    client = await load_client(session, principal, client_id)
    check_if_match(if_match, etag(client.id, client.version))
    outcome = rules.churn(
        rules.ClientStatus(client.status), _given(client), occurred_at or now, reason, now
    )
    before = watched(client)
    client.status = rules.ClientStatus.CHURNED
    client.churned_at = outcome.churned_at
    client.churn_reason = outcome.reason
    await _derive_acquisition(session, client)  # the churn is history too
    await _announce(session, client, before, now)
    await session.flush()
    return await _view(session, principal, client, now)


async def reactivate_client(
    session: AsyncSession,
    principal: Principal,
    client_id: uuid.UUID,
    if_match: str | None,
    now: datetime,
) -> ClientView:
    client = await load_client(session, principal, client_id)
    check_if_match(if_match, etag(client.id, client.version))
    rules.check_reactivation(rules.ClientStatus(client.status))
    before = watched(client)
    client.status = rules.ClientStatus.ACTIVE
    client.churned_at = None
    client.churn_reason = None
    await _derive_acquisition(session, client)
    await _announce(session, client, before, now)
    await session.flush()
    return await _view(session, principal, client, now)


async def stage_history(
    session: AsyncSession, principal: Principal, client_id: uuid.UUID
) -> list[ClientStageChange]:
    client = await load_client(session, principal, client_id)
    return await ClientRepository(session).stage_history(principal.workspace_id, client.id)


async def _apply(
    session: AsyncSession,
    workspace: Workspace,
    client: Client,
    data: dict[str, Any],
    limits: ClientLimits,
    now: datetime,
    *,
    creating: bool,
) -> None:
    """Validate the changes against the workspace and write them, recording stage moves."""
    clients = ClientRepository(session)
    data = dict(data)
    if "tier" in data:
        rules.check_tier(data["tier"], workspace.tiers)
    stage = data.pop("lifecycle_stage", None)
    if stage is None and creating:  # omitted or null: a new client starts at the first stage
        stage = workspace.lifecycle_stages[0]
    if stage is not None:
        rules.check_stage(stage, workspace.lifecycle_stages)
    if data.get("owner_id") is not None:
        owner = await OwnerRepository(session).get(workspace.id, data["owner_id"])
        if owner is None:
            raise InvalidInput(
                "owner_id does not name an owner of this workspace",
                errors=[{"loc": ["body", "owner_id"], "msg": "unknown owner", "type": "reference"}],
            )
    if data.get("external_id") is not None and data["external_id"] != client.external_id:
        existing = await clients.find_by_external_id(workspace.id, data["external_id"])
        if existing is not None:
            raise Conflict(f"a client with external_id {data['external_id']!r} already exists")
    if "attributes" in data:
        merged = {**client.attributes, **data.pop("attributes")}
        merged = {k: v for k, v in merged.items() if v is not None}
        rules.check_attributes(merged, limits.max_attributes_bytes)
        client.attributes = merged
    acquisition = data.pop("acquired_at", None) if "acquired_at" in data else _UNCHANGED
    for field, value in data.items():
        setattr(client, field, value)
    if creating:  # the creation, not the flush, is when it was created: acquired_at matches
        client.created_at = client.updated_at = now
    if isinstance(acquisition, datetime):
        client.acquired_at = acquisition
        client.acquired_at_source = rules.AcquiredAtSource.GIVEN
        if not creating:  # escalations count from acquisition on
            client.first_escalation_at = await EventRepository(session).first_escalation_since(
                client.id, client.acquired_at
            )
    elif creating:  # nothing can precede a new client yet: take history as it arrives
        client.acquired_at = now
        client.acquired_at_source = rules.AcquiredAtSource.CREATED
    elif acquisition is None:  # null: forget the given date, derive it from the history
        client.acquired_at_source = rules.AcquiredAtSource.CREATED
        await _derive_acquisition(session, client)
    change = None
    if stage is not None:
        change = rules.stage_change(None if creating else client.lifecycle_stage, stage, now)
    if change is not None:
        client.lifecycle_stage = change.to_stage
        client.stage_changed_at = change.changed_at
    if creating:
        client.id = uuid.uuid4()
        await clients.add(client)
    if change is not None:
        await clients.add_stage_change(
            ClientStageChange(
                workspace_id=workspace.id,
                client_id=client.id,
                from_stage=change.from_stage,
                to_stage=change.to_stage,
                changed_at=change.changed_at,
            )
        )


def watched(client: Client) -> dict[str, Any]:
    """The columns `client.updated` reports changes of, as they are now."""
    return {column: getattr(client, column) for column in WATCHED_COLUMNS}


async def _announce(
    session: AsyncSession, client: Client, before: dict[str, Any], now: datetime
) -> None:
    """`clients.changed` for the client, and `client.updated` for its watched fields that
    changed from `before` (`{}` for a new client: its tier cadence takes it at once)."""
    edits = [(client.id, before, watched(client))]
    await announce_changed_clients(session, client.workspace_id, {client.id}, now, edits=edits)


_UNCHANGED = object()
"""`acquired_at` was not sent."""


def _given(client: Client) -> datetime | None:
    """The acquisition date a caller gave, which refuses earlier facts; None when derived."""
    given = client.acquired_at_source == rules.AcquiredAtSource.GIVEN
    return client.acquired_at if given else None


async def _acquisition(
    session: AsyncSession, client: Client
) -> tuple[datetime, rules.AcquiredAtSource, datetime | None] | None:
    """A derived acquisition as the client's history shows it now, with the first escalation
    counted from it; None for a given date or when nothing changes."""
    if client.acquired_at_source == rules.AcquiredAtSource.GIVEN:
        return None
    events = EventRepository(session)
    history = rules.history_start(
        first_contract_on=await ClientRepository(session).first_contract_on(
            client.workspace_id, client.id
        ),
        first_activity_at=await events.first_activity_at(client.id),
        churned_at=client.churned_at,
    )
    at, source = rules.derived_acquisition(client.created_at, history)
    if (at, source) == (client.acquired_at, client.acquired_at_source):
        return None
    return at, source, await events.first_escalation_since(client.id, at)


async def _derive_acquisition(session: AsyncSession, client: Client) -> None:
    """Within a user edit of the client (churn, reactivation, a reset acquired_at)."""
    if derived := await _acquisition(session, client):
        client.acquired_at, client.acquired_at_source, client.first_escalation_at = derived


async def derive_acquisitions(
    session: AsyncSession, workspace_id: uuid.UUID, client_ids: set[uuid.UUID]
) -> None:
    """After a change to their history that is not an edit of the clients (a contract), as a
    derived fact: the clients' ETags do not move."""
    repo = ClientRepository(session)
    for client_id in sorted(client_ids):
        client = await repo.get(workspace_id, client_id)
        if client is not None and (derived := await _acquisition(session, client)):
            await repo.set_acquisition(client.id, *derived)


async def _view(
    session: AsyncSession, principal: Principal, client: Client, now: datetime
) -> ClientView:
    return (await _views(session, principal, [client], now))[0]


async def _views(
    session: AsyncSession, principal: Principal, clients: list[Client], now: datetime
) -> list[ClientView]:
    contracts = await ContractRepository(session).for_clients(
        principal.workspace_id, [c.id for c in clients]
    )
    today = now.date()
    views = []
    for client in clients:
        terms = [_terms(c) for c in contracts.get(client.id, [])]
        views.append(
            ClientView(
                client=client, mrr=mrr(terms, today), next_renewal_on=next_renewal_on(terms, today)
            )
        )
    return views


def _terms(contract: Contract) -> ContractTerms:
    return ContractTerms(
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        amount=contract.amount,
        currency=contract.currency,
        status=ContractStatus(contract.status),
    )
