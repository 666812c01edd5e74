import uuid
from typing import Annotated, Any, Literal

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
from app.api.rest.schemas.common import IsoDateTime
from app.api.rest.schemas.health import KNOWLEDGE_DOC
from app.api.rest.schemas.scorecards import (
    BackfillRead,
    BackfillRequest,
    BacktestRead,
    BandOutcomeRead,
    PreviewRead,
    ScorecardCreate,
    ScorecardDraft,
    ScorecardPage,
    ScorecardRead,
    ScorecardUpdate,
    ScorecardVersionRead,
)
from app.domain.health import Knowledge
from app.services import scorecard_analysis as analysis
from app.services import scorecards as service
from app.services.scorecards import ScorecardView

router = APIRouter(prefix="/v1/scorecards", tags=["scorecards"])
ScorecardSort = Literal["created_at", "-created_at", "name", "-name"]


def to_read(view: ScorecardView) -> ScorecardRead:
    s, v = view.scorecard, view.version
    return ScorecardRead(
        id=s.id,
        name=s.name,
        tiers=s.tiers,
        version=s.current_version,
        measures=v.definition["measures"],
        bands=v.definition["bands"],
        min_delta=v.definition["min_delta"],
        created_at=s.created_at,
        updated_at=s.updated_at,
    )


def _read(response: Response, view: ScorecardView) -> ScorecardRead:
    set_etag(response, view.scorecard.id, view.scorecard.current_version)
    return to_read(view)


def _definition(body: Any) -> dict[str, Any]:
    data: dict[str, Any] = body.model_dump(exclude_unset=True, by_alias=False)
    return data


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    operation_id="createScorecard",
    summary="Create a scorecard for some tiers",
)
async def create_scorecard(
    body: ScorecardCreate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
) -> ScorecardRead:
    data = body.model_dump()
    view = await service.create_scorecard(session, principal, data, now)
    set_location(response, f"/v1/scorecards/{view.scorecard.id}")
    return _read(response, view)


@router.get("", operation_id="listScorecards", summary="List scorecards")
async def list_scorecards(
    session: SessionDep,
    principal: ReadPrincipal,
    sort: ScorecardSort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> ScorecardPage:
    page = await service.list_scorecards(session, principal, sort=sort, cursor=cursor, limit=limit)
    return ScorecardPage(
        data=[to_read(v) for v in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get("/{scorecard_id}", operation_id="getScorecard", summary="Get a scorecard")
async def get_scorecard(
    scorecard_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    response: Response,
) -> ScorecardRead:
    return _read(response, await service.get_scorecard(session, principal, scorecard_id))


@router.patch(
    "/{scorecard_id}",
    operation_id="updateScorecard",
    summary="Edit a scorecard: a new version",
)
async def update_scorecard(
    scorecard_id: uuid.UUID,
    body: ScorecardUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> ScorecardRead:
    view = await service.update_scorecard(
        session, principal, scorecard_id, _definition(body), if_match, now
    )
    return _read(response, view)


@router.delete(
    "/{scorecard_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteScorecard",
    summary="Archive a tier scorecard (stored scores keep it)",
)
async def delete_scorecard(
    scorecard_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    if_match: IfMatch = None,
) -> None:
    await service.delete_scorecard(session, principal, scorecard_id, if_match, now)


@router.get(
    "/{scorecard_id}/versions",
    operation_id="listScorecardVersions",
    summary="Every version of a scorecard, newest first",
)
async def list_versions(
    scorecard_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal
) -> list[ScorecardVersionRead]:
    _, versions = await service.list_versions(session, principal, scorecard_id)
    return [
        ScorecardVersionRead(
            version=v.version,
            measures=v.definition["measures"],
            bands=v.definition["bands"],
            min_delta=v.definition["min_delta"],
            created_at=v.created_at,
        )
        for v in versions
    ]


@router.post(
    "/{scorecard_id}/preview",
    operation_id="previewScorecard",
    summary="Score the portfolio with a draft version; stores nothing",
)
async def preview_scorecard(
    scorecard_id: uuid.UUID,
    body: ScorecardDraft,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
) -> PreviewRead:
    result = await analysis.preview(session, principal, scorecard_id, _definition(body), now)
    return PreviewRead.model_validate(result, from_attributes=True)


@router.post(
    "/{scorecard_id}/backfill",
    operation_id="backfillScorecard",
    summary="Write score history for past moments with the current version",
)
async def backfill_scorecard(
    scorecard_id: uuid.UUID,
    body: BackfillRequest,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
) -> BackfillRead:
    result = await analysis.backfill(
        session,
        principal,
        scorecard_id,
        body.from_,
        body.to,
        body.step_days,
        now,
        body.knowledge,
    )
    return BackfillRead.model_validate(result, from_attributes=True)


@router.get(
    "/{scorecard_id}/backtest",
    operation_id="backtestScorecard",
    summary="How well the scorecard's scores at a date predicted churn",
)
async def backtest_scorecard(
    scorecard_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    now: NowDep,
    at: Annotated[
        IsoDateTime | None, Query(description="Scored as of then; defaults to now - horizon.")
    ] = None,
    horizon_days: Annotated[int, Query(ge=1, le=730)] = 90,
    knowledge: Annotated[
        Knowledge,
        Query(
            description="Which events the scores at `at` count; defaults to `occurred`, so a "
            f"backtest on imported history sees it. {KNOWLEDGE_DOC} In the `recorded` view "
            "only clients created by `at` are scored."
        ),
    ] = Knowledge.OCCURRED,
) -> BacktestRead:
    result = await analysis.backtest(
        session, principal, scorecard_id, at, horizon_days, now, knowledge
    )
    return BacktestRead(
        at=result.at,
        horizon_days=result.horizon_days,
        clients=result.clients,
        churned=result.churned,
        bands=[
            BandOutcomeRead(
                band=b.band, clients=b.clients, churned=b.churned, churn_rate=b.churn_rate
            )
            for b in result.bands
        ],
        auc=result.auc,
        knowledge=result.knowledge,
    )
