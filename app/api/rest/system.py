import logging
from typing import Literal

from fastapi import APIRouter, Response
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from pydantic import BaseModel, ConfigDict

from app.api.deps import NowDep, SessionDep
from app.api.problems import Problem
from app.db.repositories.system import ping
from app.errors import AppError
from app.services.jobs import pipeline_depth
from app.workers.metrics import observe_depth

router = APIRouter(tags=["system"])
logger = logging.getLogger(__name__)


class Status(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{"status": "ready"}]})

    status: Literal["ok", "ready"]


class NotReady(AppError):
    status = 503
    title = "Service unavailable"
    type_slug = "not-ready"


@router.get("/healthz", operation_id="getHealthz", summary="The process is up")
async def healthz() -> Status:
    return Status(status="ok")


@router.get(
    "/readyz",
    operation_id="getReadyz",
    summary="The database is reachable",
    responses={503: {"model": Problem, "description": "The database is unreachable"}},
)
async def readyz(session: SessionDep) -> Status:
    try:
        await ping(session)
    except Exception as exc:
        logger.warning("database unreachable", extra={"error": str(exc)[:300]})
        raise NotReady("the database is unreachable") from exc
    return Status(status="ready")


@router.get(
    "/metrics",
    operation_id="getMetrics",
    summary="Prometheus metrics: jobs by outcome, queue depth, commit-to-start latency",
    response_class=Response,
    responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
)
async def metrics(session: SessionDep, now: NowDep) -> Response:
    depth = await pipeline_depth(session, now)
    oldest = depth.oldest_pending_at
    observe_depth(depth.by_status, (now - oldest).total_seconds() if oldest else 0.0)
    return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
