"""The revenue ledger that retention reports stand on."""

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Contract
from app.db.repositories.contracts import ContractFilters, ContractRepository
from app.db.repositories.paging import Page
from app.domain.api_keys import Principal
from app.domain.concurrency import check_if_match, etag
from app.domain.contracts import ContractStatus, ContractTerms, check_terms
from app.errors import Conflict, InvalidInput, NotFound
from app.services.clients import derive_acquisitions, load_client
from app.services.outbox import announce_changed_clients


async def create_contract(
    session: AsyncSession, principal: Principal, data: dict[str, Any], now: datetime
) -> Contract:
    contract = Contract(id=uuid.uuid4(), workspace_id=principal.workspace_id, **data)
    await _check(session, principal, contract)
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
    await _check(session, principal, contract)
    clients.add(contract.client_id)
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


async def _check(session: AsyncSession, principal: Principal, contract: Contract) -> None:
    try:
        await load_client(session, principal, contract.client_id)
    except NotFound as exc:
        raise InvalidInput(
            "client_id does not name a client of this workspace",
            errors=[{"loc": ["body", "client_id"], "msg": "unknown client", "type": "reference"}],
        ) from exc
    check_terms(
        ContractTerms(
            starts_on=contract.starts_on,
            ends_on=contract.ends_on,
            amount=contract.amount,
            currency=contract.currency,
            status=ContractStatus(contract.status),
        )
    )
    if contract.external_id is not None:
        same = await ContractRepository(session).find_by_external_id(
            principal.workspace_id, contract.external_id
        )
        if same is not None and same.id != contract.id:
            raise Conflict(f"a contract with external_id {contract.external_id!r} already exists")
