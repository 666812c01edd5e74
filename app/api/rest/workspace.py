import uuid
from typing import Literal

from fastapi import APIRouter, Response, status

from app.api.deps import (
    DEFAULT_PAGE_LIMIT,
    AdminPrincipal,
    CursorParam,
    IfMatch,
    Limit,
    NowDep,
    ReadPrincipal,
    SessionDep,
)
from app.api.rest.responses import set_etag, set_location
from app.api.rest.schemas.workspace import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyPage,
    ApiKeyRead,
    WorkspaceRead,
    WorkspaceUpdate,
)
from app.services import workspaces as service

router = APIRouter(prefix="/v1", tags=["workspace"])
ApiKeySort = Literal["created_at", "-created_at", "name", "-name"]


@router.get("/workspace", operation_id="getWorkspace", summary="Get the caller's workspace")
async def get_workspace(
    session: SessionDep, principal: ReadPrincipal, response: Response
) -> WorkspaceRead:
    workspace = await service.get_workspace(session, principal.workspace_id)
    set_etag(response, workspace.id, workspace.version)
    return WorkspaceRead.model_validate(workspace, from_attributes=True)


@router.patch(
    "/workspace",
    operation_id="updateWorkspace",
    summary="Rename the workspace or change its tiers and lifecycle stages",
)
async def update_workspace(
    body: WorkspaceUpdate,
    session: SessionDep,
    principal: AdminPrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> WorkspaceRead:
    workspace = await service.update_workspace(
        session, principal.workspace_id, body.model_dump(exclude_unset=True), if_match
    )
    set_etag(response, workspace.id, workspace.version)
    return WorkspaceRead.model_validate(workspace, from_attributes=True)


@router.post(
    "/api-keys",
    status_code=status.HTTP_201_CREATED,
    operation_id="createApiKey",
    summary="Create an API key; its secret is shown once",
)
async def create_api_key(
    body: ApiKeyCreate, session: SessionDep, principal: AdminPrincipal, response: Response
) -> ApiKeyCreated:
    issued = await service.create_api_key(
        session, principal.workspace_id, body.name, [str(s) for s in body.scopes]
    )
    set_location(response, f"/v1/api-keys/{issued.api_key.id}")
    read = ApiKeyRead.model_validate(issued.api_key, from_attributes=True)
    return ApiKeyCreated(**read.model_dump(), api_key=issued.secret)


@router.get(
    "/api-keys",
    operation_id="listApiKeys",
    summary="List the workspace's API keys, revoked ones included",
)
async def list_api_keys(
    session: SessionDep,
    principal: AdminPrincipal,
    sort: ApiKeySort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> ApiKeyPage:
    page = await service.list_api_keys(
        session, principal.workspace_id, sort=sort, cursor=cursor, limit=limit
    )
    return ApiKeyPage(
        data=[ApiKeyRead.model_validate(k, from_attributes=True) for k in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.delete(
    "/api-keys/{key_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="revokeApiKey",
    summary="Revoke an API key",
)
async def revoke_api_key(
    key_id: uuid.UUID, session: SessionDep, principal: AdminPrincipal, now: NowDep
) -> None:
    await service.revoke_api_key(session, principal, key_id, now)
