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
from app.api.rest.schemas.cadences import (
    CadenceCreate,
    CadencePage,
    CadenceRead,
    CadenceUpdate,
    ClientCadenceRead,
    ClientEnrollmentRead,
    EnrollmentCreate,
    EnrollmentPage,
    EnrollmentRead,
    ExitRead,
    StepRead,
)
from app.api.rest.schemas.common import QueryBool
from app.db.models import Cadence, CadenceEnrollment
from app.domain.cadences import CadenceKind, EnrollmentSource, EnrollmentStatus
from app.services import cadences as service
from app.services.cadences import Standing

router = APIRouter(tags=["cadences"])
CadenceSort = Literal["created_at", "-created_at", "name", "-name"]
EnrollmentSort = Literal["enrolled_at", "-enrolled_at"]


def to_read(cadence: Cadence) -> CadenceRead:
    return CadenceRead(
        id=cadence.id,
        name=cadence.name,
        kind=CadenceKind(cadence.kind),
        tier=cadence.tier,
        condition=cadence.condition,
        interval_days=cadence.interval_days,
        channels=cadence.channels,
        steps=[StepRead.model_validate(step) for step in cadence.steps],
        exit=ExitRead.model_validate(cadence.exit_rules) if cadence.exit_rules else None,
        enabled=cadence.enabled,
        version=cadence.version,
        created_at=cadence.created_at,
        updated_at=cadence.updated_at,
    )


def _read(response: Response, cadence: Cadence) -> CadenceRead:
    set_etag(response, cadence.id, cadence.version)
    return to_read(cadence)


def enrollment_read(e: CadenceEnrollment) -> EnrollmentRead:
    return EnrollmentRead.model_validate(
        {**{k: getattr(e, k) for k in _ENROLLMENT_FIELDS}, "paused": e.paused_at is not None}
    )


_ENROLLMENT_FIELDS = (
    "id",
    "cadence_id",
    "client_id",
    "status",
    "source",
    "enrolled_at",
    "anchor_at",
    "next_step",
    "next_due_at",
    "paused_at",
    "last_step",
    "last_step_at",
    "ended_at",
    "exit_reason",
)


@router.post(
    "/v1/cadences",
    status_code=status.HTTP_201_CREATED,
    operation_id="createCadence",
    summary="Create a cadence: a follow-up rhythm or an outreach sequence",
)
async def create_cadence(
    body: CadenceCreate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
) -> CadenceRead:
    cadence = await service.create_cadence(session, principal, body.model_dump(), now)
    set_location(response, f"/v1/cadences/{cadence.id}")
    return _read(response, cadence)


@router.get("/v1/cadences", operation_id="listCadences", summary="List cadences")
async def list_cadences(
    session: SessionDep,
    principal: ReadPrincipal,
    kind: CadenceKind | None = None,
    tier: Annotated[str | None, Query(max_length=64)] = None,
    enabled: QueryBool | None = None,
    sort: CadenceSort = "created_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> CadencePage:
    page = await service.list_cadences(
        session,
        principal,
        kind=kind.value if kind is not None else None,
        tier=tier,
        enabled=enabled,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return CadencePage(
        data=[to_read(c) for c in page.items], next_cursor=page.next_cursor, has_more=page.has_more
    )


@router.get("/v1/cadences/{cadence_id}", operation_id="getCadence", summary="Get a cadence")
async def get_cadence(
    cadence_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, response: Response
) -> CadenceRead:
    return _read(response, await service.get_cadence(session, principal, cadence_id))


@router.patch(
    "/v1/cadences/{cadence_id}",
    operation_id="updateCadence",
    summary="Edit a cadence; automatic enrolments follow at once",
)
async def update_cadence(
    cadence_id: uuid.UUID,
    body: CadenceUpdate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
    if_match: IfMatch = None,
) -> CadenceRead:
    changes: dict[str, Any] = body.model_dump(exclude_unset=True)
    cadence = await service.update_cadence(session, principal, cadence_id, changes, if_match, now)
    return _read(response, cadence)


@router.delete(
    "/v1/cadences/{cadence_id}",
    status_code=status.HTTP_204_NO_CONTENT,
    operation_id="deleteCadence",
    summary="Delete a cadence and its enrolments (its tasks stay)",
)
async def delete_cadence(
    cadence_id: uuid.UUID, session: SessionDep, principal: WritePrincipal, if_match: IfMatch = None
) -> None:
    await service.delete_cadence(session, principal, cadence_id, if_match)


@router.get(
    "/v1/cadences/{cadence_id}/enrollments",
    operation_id="listCadenceEnrollments",
    summary="A cadence's enrolments, newest first by default",
)
async def list_enrollments(
    cadence_id: uuid.UUID,
    session: SessionDep,
    principal: ReadPrincipal,
    status: EnrollmentStatus | None = None,
    sort: EnrollmentSort = "-enrolled_at",
    cursor: CursorParam = None,
    limit: Limit = DEFAULT_PAGE_LIMIT,
) -> EnrollmentPage:
    page = await service.list_enrollments(
        session,
        principal,
        cadence_id,
        status=status.value if status is not None else None,
        sort=sort,
        cursor=cursor,
        limit=limit,
    )
    return EnrollmentPage(
        data=[enrollment_read(e) for e in page.items],
        next_cursor=page.next_cursor,
        has_more=page.has_more,
    )


@router.post(
    "/v1/cadences/{cadence_id}/enrollments",
    status_code=status.HTTP_201_CREATED,
    operation_id="enrollClientInCadence",
    summary="Enrol a client by hand; an active enrolment is answered as it is (200)",
    responses={200: {"description": "Already enrolled", "model": EnrollmentRead}},
)
async def enroll_client(
    cadence_id: uuid.UUID,
    body: EnrollmentCreate,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
    response: Response,
) -> EnrollmentRead:
    enrollment, created = await service.enroll_client(
        session, principal, cadence_id, body.client_id, now
    )
    if not created:
        response.status_code = status.HTTP_200_OK
    return enrollment_read(enrollment)


@router.post(
    "/v1/cadences/{cadence_id}/enrollments/{enrollment_id}/end",
    operation_id="endCadenceEnrollment",
    summary="End an active enrolment by hand",
)
async def end_enrollment(
    cadence_id: uuid.UUID,
    enrollment_id: uuid.UUID,
    session: SessionDep,
    principal: WritePrincipal,
    now: NowDep,
) -> EnrollmentRead:
    enrollment = await service.end_enrollment(session, principal, cadence_id, enrollment_id, now)
    return enrollment_read(enrollment)


def _standing(s: Standing) -> ClientEnrollmentRead:
    e, clock = s.enrollment, s.clock
    steps = s.definition.steps
    return ClientEnrollmentRead(
        enrollment_id=e.id,
        cadence_id=s.cadence.id,
        cadence_name=s.cadence.name,
        kind=s.definition.kind,
        source=EnrollmentSource(e.source),
        enrolled_at=e.enrolled_at,
        anchor_at=clock.anchor_at,
        last_qualifying_touchpoint_at=s.last_touchpoint_at,
        next_step=clock.next_step,
        steps=len(steps),
        next_action=steps[min(clock.next_step, len(steps) - 1)].action.kind,
        next_due_at=clock.next_due_at,
        due_now=s.due_now,
        paused=clock.paused,
        paused_at=clock.paused_at,
        open_task=s.open_task,
        last_step=e.last_step,
        last_step_at=e.last_step_at,
    )


@router.get(
    "/v1/clients/{client_id}/cadence",
    operation_id="getClientCadence",
    summary="Where a client stands in its cadences and when the next touch is due",
)
async def get_client_cadence(
    client_id: uuid.UUID, session: SessionDep, principal: ReadPrincipal, now: NowDep
) -> ClientCadenceRead:
    view = await service.client_cadence(session, principal, client_id, now)
    return ClientCadenceRead(
        client_id=view.client_id,
        last_touchpoint_at=view.last_touchpoint_at,
        next_touch_due_at=view.next_touch_due_at,
        enrollments=[_standing(s) for s in view.enrollments],
    )
