import uuid
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response, status

from app.api.deps import (
    DEFAULT_PAGE_LIMIT,
    CursorParam,
    Limit,
    NowDep,
    ReadPrincipal,
    SessionDep,
    WritePrincipal,
)
from app.api.rest.responses import set_location
from app.api.rest.schemas.common import IsoDateTime
from app.api.rest.schemas.health import (
    KNOWLEDGE_DOC,
    ClientHealthRead,
    ComputedScore,
    HealthHistoryPage,
    HealthSnapshotRead,
    MeasureExplanation,
    OverrideCreate,
    OverridePage,
    OverrideRead,
    PortfolioItemRead,
    PortfolioPage,
    ScorecardRef,
)
from app.db.models import HealthOverride, HealthSnapshot
from app.db.repositories.health import PortfolioFilters
from app.domain.health import Knowledge, measures_document
from app.services import health as service
from app.services import health_overrides

router = APIRouter(tags=["health"])
PortfolioSort = Literal["score", "-score", "change", "-change", "created_at"]
AsOf = Annotated[
    IsoDateTime | None,
    Query(
        description="Score as of this past moment, from the events that had occurred by then "
        "and, by default, been recorded by then (see `knowledge`)."
    ),
]
KnowledgeParam = Annotated[
    Knowledge,
    Query(description=f"Which events a score as of a past moment counts. {KNOWLEDGE_DOC}"),
]


def _override(o: HealthOverride) -> OverrideRead:
    return OverrideRead.model_validate(o, from_attributes=True)


def _snapshot(s: HealthSnapshot) -> HealthSnapshotRead:
    return HealthSnapshotRead(
        id=s.id,
        score=s.score,
        band=s.band,
        groups=s.groups,
        scorecard=ScorecardRef(id=s.scorecard_id, version=s.scorecard_version),
        computed_at=s.computed_at,
        source=s.source,
        explanation=[MeasureExplanation.model_validate(m) for m in s.measures],
    )


@router.get(
    "/v1/clients/{client_id}/health",
    operation_id="getClientHealth",
    summary="A client's health score with its explanation, now or as of a moment",
)
async def get_client_health(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    now: NowDep,
    as_of: AsOf = None,
    knowledge: KnowledgeParam = Knowledge.RECORDED,
) -> ClientHealthRead:
    view = await service.get_health(session, principal, client_id, as_of, now, knowledge)
    health, override = view.health, view.override
    return ClientHealthRead(
        client_id=view.client_id,
        score=override.score if override else health.score,
        band=override.band if override else health.band,
        computed=ComputedScore(score=health.score, band=health.band),
        override=_override(override) if override else None,
        groups=health.groups,
        scorecard=ScorecardRef(id=view.scorecard.id, version=view.scorecard.version),
        computed_at=view.computed_at,
        knowledge=view.knowledge,
        explanation=[MeasureExplanation.model_validate(m) for m in measures_document(health)],
    )


@router.get(
    "/v1/clients/{client_id}/health/history",
    operation_id="listClientHealthHistory",
    summary="A client's stored scores, newest first",
)
async def list_history(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    computed_from: Annotated[IsoDateTime | None, Query(description="Inclusive.")] = None,
    computed_to: Annotated[IsoDateTime | None, Query(description="Inclusive.")] = None,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> HealthHistoryPage:
    page = await service.history(
        session,
        principal,
        client_id,
        start=computed_from,
        end=computed_to,
        cursor=cursor,
        limit=limit,
    )
    return HealthHistoryPage(
        data=[_snapshot(s) for s in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.post(
    "/v1/clients/{client_id}/health/override",
    status_code=status.HTTP_201_CREATED,
    operation_id="overrideClientHealth",
    summary="Put a band or score over the computed one until it expires",
)
async def override_health(
    client_id: uuid.UUID,
    body: OverrideCreate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
) -> OverrideRead:
    override = await health_overrides.create_override(
        session, principal, client_id, body.model_dump(), now
    )
    set_location(response, f"/v1/clients/{client_id}/health/overrides")
    return _override(override)


@router.get(
    "/v1/clients/{client_id}/health/overrides",
    operation_id="listClientHealthOverrides",
    summary="Every override of a client's health, newest first, expired ones included",
)
async def list_overrides(
    client_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> OverridePage:
    page = await health_overrides.list_overrides(
        session, principal, client_id, cursor=cursor, limit=limit
    )
    return OverridePage(
        data=[_override(o) for o in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.get(
    "/v1/health",
    operation_id="listHealth",
    summary="The portfolio: every client's latest stored score, filtered and sorted",
)
async def list_health(
    session: SessionDep,
    principal: ReadPrincipal,
    now: NowDep,
    band: Annotated[str | None, Query(max_length=64)] = None,
    tier: Annotated[str | None, Query(max_length=64)] = None,
    owner_id: uuid.UUID | None = None,
    sort: Annotated[
        PortfolioSort | None,
        Query(
            description="`change` puts the biggest decliners first. Defaults to `score`; with "
            "`as_of` the only order is `created_at` (client creation order)."
        ),
    ] = None,
    period_days: Annotated[
        int, Query(ge=1, le=365, description="The period `change` looks back over.")
    ] = 30,
    as_of: AsOf = None,
    knowledge: KnowledgeParam = Knowledge.RECORDED,
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> PortfolioPage:
    page = await service.portfolio(
        session,
        principal,
        PortfolioFilters(band=band, tier=tier, owner_id=owner_id),
        sort=sort or ("score" if as_of is None else "created_at"),
        period_days=period_days,
        as_of=as_of,
        cursor=cursor,
        limit=limit,
        now=now,
        knowledge=knowledge,
    )
    return PortfolioPage(
        data=[
            PortfolioItemRead(
                client_id=i.client_id,
                client_name=i.client_name,
                tier=i.tier,
                owner_id=i.owner_id,
                score=i.score,
                band=i.band,
                change=i.change,
                scorecard=None
                if i.scorecard_id is None or i.scorecard_version is None
                else ScorecardRef(id=i.scorecard_id, version=i.scorecard_version),
                computed_at=i.computed_at,
            )
            for i in page.items
        ],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )
