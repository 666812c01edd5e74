"""Pulling a CRM into Tenure: `POST /v1/integrations/{id}/sync` starts an import, read back
through `/syncs`."""

import uuid
from typing import Literal

from fastapi import APIRouter, Response, status

from app.api.deps import DEFAULT_PAGE_LIMIT, AdminPrincipal, CursorParam, Limit, NowDep, SessionDep
from app.api.rest.responses import set_location
from app.api.rest.schemas.crm_syncs import CrmSyncPage, CrmSyncRead
from app.db.models import CrmSync
from app.services import crm_sync as service

router = APIRouter(prefix="/v1/integrations", tags=["integrations"])
SyncSort = Literal["created_at", "-created_at"]


def _read(sync: CrmSync) -> CrmSyncRead:
    return CrmSyncRead.model_validate(sync, from_attributes=True)


@router.post(
    "/{integration_id}/sync",
    status_code=status.HTTP_202_ACCEPTED,
    operation_id="startCrmSync",
    summary="Import owners, companies and contacts from the CRM",
    description=(
        "Owners are matched by email, companies become clients (matched by their link, else by "
        "`external_id` equal to the CRM's record id, else created with it), contacts of linked "
        "companies are matched by link, else by email at the client. Paged and resumable; a "
        "re-run updates what the last one made. 409 while another sync of the integration is "
        "queued or running."
    ),
)
async def start_sync(
    integration_id: uuid.UUID,
    session: SessionDep,
    principal: AdminPrincipal,
    now: NowDep,
    response: Response,
) -> CrmSyncRead:
    sync = await service.start_sync(session, principal, integration_id, now)
    set_location(response, f"/v1/integrations/{integration_id}/syncs/{sync.id}")
    return _read(sync)


@router.get(
    "/{integration_id}/syncs", operation_id="listCrmSyncs", summary="The integration's imports"
)
async def list_syncs(
    integration_id: uuid.UUID,
    session: SessionDep,
    principal: AdminPrincipal,
    sort: SyncSort = "-created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> CrmSyncPage:
    page = await service.list_syncs(
        session, principal, integration_id, sort=sort, cursor=cursor, limit=limit
    )
    return CrmSyncPage(
        data=[_read(sync) for sync in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get("/{integration_id}/syncs/{sync_id}", operation_id="getCrmSync", summary="One import")
async def get_sync(
    integration_id: uuid.UUID, sync_id: uuid.UUID, session: SessionDep, principal: AdminPrincipal
) -> CrmSyncRead:
    return _read(await service.get_sync(session, principal, integration_id, sync_id))
