import logging
from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict

from app.api.deps import SessionDep
from app.api.problems import Problem
from app.db.repositories.system import ping
from app.errors import AppError

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
