"""Dependencies every route shares: session, caller, scopes, paging, preconditions."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Query, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.domain.api_keys import Principal, Scope, grants
from app.domain.pagination import DEFAULT_LIMIT, MAX_LIMIT
from app.errors import Forbidden, Unauthenticated
from app.services.workspaces import authenticate

bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer tnr_…`")
# RFC 9110 requires a challenge on every 401; RFC 6750 names a rejected key `invalid_token`.
MISSING_KEY_CHALLENGE = "Bearer"
INVALID_KEY_CHALLENGE = 'Bearer error="invalid_token"'


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    """The request's unit of work: committed when the operation returns, before the response
    is sent, and rolled back when it raises. Services and repositories only flush."""
    async with request.app.state.sessionmaker() as session:
        yield session
        if session.in_transaction():
            await session.commit()


def get_settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def get_now() -> datetime:
    return datetime.now(UTC)


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
SettingsDep = Annotated[Settings, Depends(get_settings)]
NowDep = Annotated[datetime, Depends(get_now)]


async def get_principal(
    session: SessionDep,
    now: NowDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)],
) -> Principal:
    if credentials is None or not credentials.credentials:
        raise _unauthenticated(
            "send an API key as `Authorization: Bearer <key>`", MISSING_KEY_CHALLENGE
        )
    try:
        return await authenticate(session, credentials.credentials, now)
    except Unauthenticated as exc:
        raise _unauthenticated(exc.detail, INVALID_KEY_CHALLENGE) from exc


def _unauthenticated(detail: str, challenge: str) -> HTTPException:
    """Rendered as the same problem as `Unauthenticated`, plus the challenge header."""
    return HTTPException(401, detail, headers={"WWW-Authenticate": challenge})


class RequireScope:
    def __init__(self, scope: Scope) -> None:
        self.scope = scope

    async def __call__(self, principal: Annotated[Principal, Depends(get_principal)]) -> Principal:
        if not grants(list(principal.scopes), self.scope):
            raise Forbidden(f"this API key lacks the {self.scope!s} scope")
        return principal


ReadPrincipal = Annotated[Principal, Depends(RequireScope(Scope.READ))]
WritePrincipal = Annotated[Principal, Depends(RequireScope(Scope.WRITE))]
AdminPrincipal = Annotated[Principal, Depends(RequireScope(Scope.ADMIN))]

IfMatch = Annotated[
    str | None,
    Header(alias="If-Match", description="An ETag from a read; a mismatch answers 412."),
]
Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Page size.")]
CursorParam = Annotated[
    str | None,
    Query(max_length=1000, description="`next_cursor` of the previous page."),
]
DEFAULT_PAGE_LIMIT = DEFAULT_LIMIT
