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
from app.api.rest.schemas.common import IsoDate
from app.api.rest.schemas.contracts import (
    ContractCreate,
    ContractPage,
    ContractRead,
    ContractUpdate,
)
from app.db.models import Contract
from app.db.repositories.contracts import ContractFilters
from app.domain.contracts import ContractStatus
from app.services import contracts as service

router = APIRouter(prefix="/v1/contracts", tags=["contracts"])
ContractSort = Literal[
    "created_at", "-created_at", "updated_at", "-updated_at", "starts_on", "-starts_on"
]


def _read(response: Response, contract: Contract) -> ContractRead:
    set_etag(response, contract.id, contract.version)
    return ContractRead.model_validate(contract, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createContract",
    summary="Record a contract (a recurring revenue line)",
)
async def create_contract(
    body: ContractCreate,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
    now: NowDep,
) -> ContractRead:
    contract = await service.create_contract(session, principal, body.model_dump(), now)
    set_location(response, f"/v1/contracts/{contract.id}")
    return _read(response, contract)


@router.get("", operation_id="listContracts", summary="List contracts")
async def list_contracts(
    session: SessionDep,
    principal: ReadPrincipal,
    client_id: uuid.UUID | None = None,
    status: ContractStatus | None = None,
    active_on: Annotated[IsoDate | None, Query(description="Contracts covering this day.")] = None,
    sort: ContractSort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> ContractPage:
    filters = ContractFilters(
        client_id=client_id, status=status.value if status else None, active_on=active_on
    )
    page = await service.list_contracts(
        session, principal, filters, sort=sort, cursor=cursor, limit=limit
    )
    return ContractPage(
        data=[ContractRead.model_validate(c, from_attributes=True) for c in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/{contract_id}", operation_id="getContract", summary="Get a contract")
async def get_contract(
    contract_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, response: Response
) -> ContractRead:
    return _read(response, await service.get_contract(session, principal, contract_id))


@router.patch("/{contract_id}", operation_id="updateContract", summary="Update a contract")
async def update_contract(
    contract_id: uuid.UUID,
    body: ContractUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
    now: NowDep,
    if_match: IfMatch = None,
) -> ContractRead:
    contract = await service.update_contract(
        session, principal, contract_id, body.model_dump(exclude_unset=True), if_match, now
    )
    return _read(response, contract)


@router.delete(
    "/{contract_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteContract",
    summary="Delete a contract",
)
async def delete_contract(
    contract_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    if_match: IfMatch = None,
) -> None:
    await service.delete_contract(session, principal, contract_id, if_match, now)
