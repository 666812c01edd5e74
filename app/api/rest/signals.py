import uuid
from dataclasses import dataclass, replace
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Response

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
from app.api.rest.schemas.common import IsoDateTime
from app.api.rest.schemas.signals import (
    SignalAcknowledge,
    SignalPage,
    SignalRead,
    SignalSettingsRead,
    SignalSettingsUpdate,
)
from app.db.models import Signal
from app.db.repositories.paging import Page
from app.db.repositories.signals import SignalFilters
from app.domain.signal_settings import SignalSettings, to_document
from app.domain.signals import Severity, SignalKind, SignalStatus
from app.services import signals as service

router = APIRouter(tags=["signals"])


@dataclass(frozen=True)
class SignalQuery:
    filters: SignalFilters
    cursor: str | None
    limit: int


def signal_query(
    kind: Annotated[
        list[SignalKind] | None,
        Query(description="Only these kinds; repeat the parameter for several."),
    ] = None,
    status: Annotated[
        list[SignalStatus] | None,
        Query(description="Only these statuses; repeat the parameter for several."),
    ] = None,
    severity: Annotated[
        list[Severity] | None,
        Query(description="Only these severities; repeat the parameter for several."),
    ] = None,
    opened_from: Annotated[IsoDateTime | None, Query(description="Inclusive.")] = None,
    opened_to: Annotated[IsoDateTime | None, Query(description="Exclusive.")] = None,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> SignalQuery:
    """The filters and paging both signal lists share; newest first."""
    filters = SignalFilters(
        kinds=tuple(k.value for k in kind or ()),
        statuses=tuple(s.value for s in status or ()),
        severities=tuple(s.value for s in severity or ()),
        opened_from=opened_from,
        opened_to=opened_to,
    )
    return SignalQuery(filters, cursor, limit)


SignalQueryDep = Annotated[SignalQuery, Depends(signal_query)]


def _page(page: Page[Signal]) -> SignalPage:
    return SignalPage(
        data=[SignalRead.model_validate(s, from_attributes=True) for s in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get(
    "/v1/signals", operation_id="listSignals", summary="Leading-indicator signals, newest first"
)
async def list_signals(
    session: SessionDep,
    principal: ReadPrincipal,
    query: SignalQueryDep,
    owner_id: Annotated[uuid.UUID | None, Query(description="Clients of this owner.")] = None,
    tier: Annotated[str | None, Query(max_length=64, description="Clients of this tier.")] = None,
) -> SignalPage:
    filters = replace(query.filters, owner_id=owner_id, tier=tier)
    page = await service.list_signals(
        session, principal, filters, cursor=query.cursor, limit=query.limit
    )
    return _page(page)


@router.get(
    "/v1/clients/{client_id}/signals",
    operation_id="listClientSignals",
    summary="A client's signals, newest first",
)
async def list_client_signals(
    client_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, query: SignalQueryDep
) -> SignalPage:
    page = await service.list_client_signals(
        session, principal, client_id, query.filters, cursor=query.cursor, limit=query.limit
    )
    return _page(page)


@router.get("/v1/signals/{signal_id}", operation_id="getSignal", summary="Get a signal")
async def get_signal(
    signal_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal
) -> SignalRead:
    signal = await service.get_signal(session, principal, signal_id)
    return SignalRead.model_validate(signal, from_attributes=True)


@router.post(
    "/v1/signals/{signal_id}/acknowledge",
    operation_id="acknowledgeSignal",
    summary="An owner takes an open signal in hand",
    description=(
        "The signal stays `acknowledged` while its condition holds (no new signal of its kind "
        "opens for the client meanwhile) and resolves by itself when the condition clears. "
        "409 when it is already acknowledged or resolved."
    ),
)
async def acknowledge_signal(
    signal_id: uuid.UUID,
    body: SignalAcknowledge,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
) -> SignalRead:
    signal = await service.acknowledge_signal(
        session, principal, signal_id, body.owner_id, body.note, now
    )
    return SignalRead.model_validate(signal, from_attributes=True)


def _settings(response: Response, settings: SignalSettings, tag: str) -> SignalSettingsRead:
    response.headers["ETag"] = tag
    return SignalSettingsRead.model_validate(to_document(settings))


@router.get(
    "/v1/signal-settings",
    operation_id="getSignalSettings",
    summary="Which signals the workspace watches, and their thresholds",
)
async def get_signal_settings(
    session: SessionDep, principal: ReadPrincipal, response: Response
) -> SignalSettingsRead:
    settings, tag = await service.get_settings(session, principal)
    return _settings(response, settings, tag)


@router.patch(
    "/v1/signal-settings",
    operation_id="updateSignalSettings",
    summary="Change signal thresholds or switch kinds off",
    description=(
        "Only the fields sent change; `tier_days` and `stage_days` are replaced whole. Tiers "
        "and stages must be the workspace's own. Applies from the next evaluation; a kind "
        "switched off resolves its open signals then."
    ),
)
async def update_signal_settings(
    body: SignalSettingsUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    response: Response,
    if_match: IfMatch = None,
) -> SignalSettingsRead:
    settings, tag = await service.update_settings(
        session, principal, body.model_dump(exclude_unset=True), if_match
    )
    return _settings(response, settings, tag)
