import uuid
from typing import Literal

from fastapi import APIRouter, Response, status

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
from app.api.rest.schemas.contacts import ContactCreate, ContactPage, ContactRead, ContactUpdate
from app.db.models import Contact
from app.services import contacts as service

router = APIRouter(prefix="/v1/clients/{client_id}/contacts", tags=["contacts"])
ContactSort = Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]


def _read(response: Response, contact: Contact) -> ContactRead:
    set_etag(response, contact.id, contact.version)
    return ContactRead.model_validate(contact, from_attributes=True)


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createContact",
    summary="Add a contact to a client",
)
async def create_contact(
    client_id: uuid.UUID,
    body: ContactCreate,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
) -> ContactRead:
    contact = await service.create_contact(session, principal, client_id, body.model_dump())
    set_location(response, f"/v1/clients/{client_id}/contacts/{contact.id}")
    return _read(response, contact)


@router.get("", operation_id="listContacts", summary="List a client's contacts")
async def list_contacts(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    sort: ContactSort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> ContactPage:
    page = await service.list_contacts(
        session, principal, client_id, sort=sort, cursor=cursor, limit=limit
    )
    return ContactPage(
        data=[ContactRead.model_validate(c, from_attributes=True) for c in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/{contact_id}", operation_id="getContact", summary="Get a contact")
async def get_contact(
    client_id: uuid.UUID,
    contact_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    response: Response,
) -> ContactRead:
    return _read(response, await service.get_contact(session, principal, client_id, contact_id))


@router.patch("/{contact_id}", operation_id="updateContact", summary="Update a contact")
async def update_contact(
    client_id: uuid.UUID,
    contact_id: uuid.UUID,
    body: ContactUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> ContactRead:
    contact = await service.update_contact(
        session, principal, client_id, contact_id, body.model_dump(exclude_unset=True), if_match
    )
    return _read(response, contact)


@router.delete(
    "/{contact_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteContact",
    summary="Delete a contact",
)
async def delete_contact(
    client_id: uuid.UUID,
    contact_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    if_match: IfMatch = None,
) -> None:
    await service.delete_contact(session, principal, client_id, contact_id, if_match)
