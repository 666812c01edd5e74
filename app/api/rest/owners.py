import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from app.api.deps import (
    DEFAULT_PAGE_LIMIT,
    CursorParam,
    IfMatch,
    Limit,
    ReadPrincipal,
    SessionDep,
    WritePrincipal,
)
from app.api.rest.responses import set_etag, set_location
from app.api.rest.schemas.common import QueryBool
from app.api.rest.schemas.owners import OwnerCreate, OwnerPage, OwnerRead, OwnerUpdate
from app.db.models import Owner
from app.services import owners as service

router = APIRouter(prefix="/v1/owners", tags=["owners"])
OwnerSort = Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]


def _read(response: Response, owner: Owner) -> OwnerRead:
    set_etag(response, owner.id, owner.version)
    return OwnerRead.model_validate(owner, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createOwner",
    summary="Create an owner (account manager)",
)
async def create_owner(
    body: OwnerCreate, session: SessionDep, principal: WritePrincipal, response: Response
) -> OwnerRead:
    owner = await service.create_owner(session, principal, body.model_dump())
    set_location(response, f"/v1/owners/{owner.id}")
    return _read(response, owner)


@router.get("", operation_id="listOwners", summary="List owners")
async def list_owners(
    session: SessionDep,
    principal: ReadPrincipal,
    active: QueryBool | None = None,
    q: Annotated[str | None, Query(max_length=200, description="Text in name or email.")] = None,
    sort: OwnerSort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> OwnerPage:
    page = await service.list_owners(
        session, principal, active=active, q=q, sort=sort, cursor=cursor, limit=limit
    )
    return OwnerPage(
        data=[OwnerRead.model_validate(o, from_attributes=True) for o in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/{owner_id}", operation_id="getOwner", summary="Get an owner")
async def get_owner(
    owner_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, response: Response
) -> OwnerRead:
    return _read(response, await service.get_owner(session, principal, owner_id))


@router.patch("/{owner_id}", operation_id="updateOwner", summary="Update an owner")
async def update_owner(
    owner_id: uuid.UUID,
    body: OwnerUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> OwnerRead:
    owner = await service.update_owner(
        session, principal, owner_id, body.model_dump(exclude_unset=True), if_match
    )
    return _read(response, owner)


@router.delete(
    "/{owner_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteOwner",
    summary="Delete an owner who owns no clients",
)
async def delete_owner(
    owner_id: uuid.UUID, session: SessionDep, principal: WritePrincipal, if_match: IfMatch = None
) -> None:
    await service.delete_owner(session, principal, owner_id, if_match)
