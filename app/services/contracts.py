"""The revenue ledger that retention reports stand on."""

import uuid
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Contract
from app.db.repositories.contracts import ContractFilters, ContractRepository
from app.db.repositories.paging import Page
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.domain.contracts import (
    ContractEnd,
    ContractStatus,
    ContractTerms,
    check_terms,
    end_reason,
)
from app.errors import Conflict, InvalidInput, NotFound
from app.facts import ContractsEnded, EndedContract
from app.services.clients import derive_acquisitions, load_client
from app.services.outbox import announce_changed_clients, emit


async def create_contract(
    session: AsyncSession, principal: Principal, data: dict[str, Any], now: datetime
) -> Contract:
    contract = Contract(id=uuid.uuid4(), workspace_id=principal.workspace_id, **data)
    terms = await _check(session, principal, contract)
    if end_reason(terms, now.date()) is not None:
        contract.ended_at = now
    await ContractRepository(session).add(contract)
    await derive_acquisitions(session, principal.workspace_id, {contract.client_id})
    await announce_changed_clients(session, principal.workspace_id, {contract.client_id}, now)
    await session.flush()
    return contract


async def get_contract(
    session: AsyncSession, principal: Principal, contract_id: uuid.UUID
) -> Contract:
    contract = await ContractRepository(session).get(principal.workspace_id, contract_id)
    if contract is None:
        raise NotFound("contract not found")
    return contract


async def list_contracts(
    session: AsyncSession,
    principal: Principal,
    filters: ContractFilters,
    *,
    sort: str,
    cursor: str | None,
    limit: int,
) -> Page[Contract]:
    return await ContractRepository(session).page(
        principal.workspace_id, filters, sort=sort, cursor=cursor, limit=limit
    )


async def update_contract(
    session: AsyncSession,
    principal: Principal,
    contract_id: uuid.UUID,
    changes: dict[str, Any],
    if_match: str | None,
    now: datetime,
) -> Contract:
    contract = await get_contract(session, principal, contract_id)
    check_if_match(if_match, etag(contract.id, contract.version))
    clients = {contract.client_id}
    for field, value in changes.items():
        setattr(contract, field, value)
    terms = await _check(session, principal, contract)
    clients.add(contract.client_id)
    await _mark_end(session, principal.workspace_id, contract, terms, now)
    await session.flush()
    await derive_acquisitions(session, principal.workspace_id, clients)
    await announce_changed_clients(session, principal.workspace_id, clients, now)
    await session.flush()
    return contract


async def delete_contract(
    session: AsyncSession,
    principal: Principal,
    contract_id: uuid.UUID,
    if_match: str | None,
    now: datetime,
) -> None:
    contract = await get_contract(session, principal, contract_id)
    check_if_match(if_match, etag(contract.id, contract.version))
    await ContractRepository(session).delete(contract)
    await derive_acquisitions(session, principal.workspace_id, {contract.client_id})
    await announce_changed_clients(session, principal.workspace_id, {contract.client_id}, now)
    await session.flush()


async def _mark_end(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    contract: Contract,
    terms: ContractTerms,
    now: datetime,
) -> None:
    """An edit that ends a running contract (a cancellation, an end date moved into the past)
    announces it once; one that revives it lets its next end be announced again."""
    reason = end_reason(terms, now.date())
    if reason is None:
        contract.ended_at = None
    elif contract.ended_at is None:
        contract.ended_at = now
        await emit(
            session,
            [ContractsEnded(contracts=[_ended(contract, reason, now)])],
            workspace_id=workspace_id,
            now=now,
        )


def _ended(contract: Contract, reason: ContractEnd, now: datetime) -> EndedContract:
    return EndedContract(
        contract_id=contract.id,
        client_id=contract.client_id,
        ends_on=contract.ends_on,
        reason=reason,
        ended_at=now,
    )


ANNOUNCE_BATCH = 500


async def announce_expired_contracts(session: AsyncSession, now: datetime) -> int:
    """Contracts whose last day has passed, announced as `contract.ended` once each, by
    workspace. Catches up after downtime: every unannounced end is found, however old."""
    contracts = await ContractRepository(session).expired_unannounced(now.date(), ANNOUNCE_BATCH)
    by_workspace: dict[uuid.UUID, list[EndedContract]] = defaultdict(list)
    for contract in contracts:
        contract.ended_at = now
        by_workspace[contract.workspace_id].append(_ended(contract, "expired", now))
    for workspace_id, ended in by_workspace.items():
        await emit(session, ContractsEnded.split(ended), workspace_id=workspace_id, now=now)
    await session.flush()
    return len(contracts)


async def _check(session: AsyncSession, principal: Principal, contract: Contract) -> ContractTerms:
    try:
        await load_client(session, principal, contract.client_id)
    except NotFound as exc:
        raise InvalidInput(
            "client_id does not name a client of this workspace",
            errors=[{"loc": ["body", "client_id"], "msg": "unknown client", "type": "reference"}],
        ) from exc
    terms = ContractTerms(
        starts_on=contract.starts_on,
        ends_on=contract.ends_on,
        amount=contract.amount,
        currency=contract.currency,
        status=ContractStatus(contract.status),
    )
    check_terms(terms)
    if contract.external_id is not None:
        same = await ContractRepository(session).find_by_external_id(
            principal.workspace_id, contract.external_id
        )
        if same is not None and same.id != contract.id:
            raise Conflict(f"a contract with external_id {contract.external_id!r} already exists")
    return terms
