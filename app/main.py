"""The ASGI application: routers, error rendering, middleware, and the database engine."""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Any

from fastapi import Depends, FastAPI
from fastapi.openapi.utils import get_openapi
from sqlalchemy.ext.asyncio import AsyncEngine

from app.api import docs
from app.api.documented import (
    reject_invalid_utf8,
    reject_nul_characters,
    reject_unknown_query_parameters,
)
from app.api.idempotency import IdempotencyMiddleware
from app.api.middleware import (
    BodyLimitMiddleware,
    HeadAsGetMiddleware,
    RequestContextMiddleware,
    UnexpectedErrorMiddleware,
)
from app.api.negotiation import require_json_accept
from app.api.problems import (
    error_responses,
    install_problem_handlers,
    move_errors_to_problem_media_type,
)
from app.api.rest import (
    cadences,
    clients,
    contacts,
    contracts,
    crm_syncs,
    email_templates,
    emails,
    events,
    health,
    integrations,
    jobs,
    owners,
    scorecards,
    signals,
    system,
    tasks,
    triggers,
    workspace,
)
from app.config import Settings, get_settings
from app.db.session import create_engine, create_sessionmaker
from app.domain.limits import MAX_BODY_DEPTH, MAX_JSON_DEPTH, TIME_RANGE
from app.integrations.http import close_shared_client
from app.workers.job import Registry
from app.workers.pipeline import start_background

DESCRIPTION = f"""\
Tenure watches every client's activity, scores their health, spots the accounts that are going
quiet and acts before they leave. Authenticate with `Authorization: Bearer <API key>`.
Errors are RFC 9457 `application/problem+json`.

Limits on what a request may carry, so that whatever is accepted can be stored and read
back: a body nests at most {MAX_BODY_DEPTH} levels and a free-form object (client `attributes`,
event `properties`) at most {MAX_JSON_DEPTH}; text is valid Unicode without NUL (no lone
surrogates, also in the URL); numbers are finite and fit a 64-bit float; dates and times run
{TIME_RANGE}. Anything else is refused with 422.
"""


def create_app(
    settings: Settings | None = None,
    engine: AsyncEngine | None = None,
    registry: Registry | None = None,
) -> FastAPI:
    """`engine` lets a caller that runs the app on other event loops pass an unpooled one;
    `registry` replaces the jobs its background runner knows (tests add probe jobs)."""
    settings = settings or get_settings()
    engine = engine or create_engine(settings.database_url)

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        background = await start_background(settings, app.state.sessionmaker, registry)
        try:
            yield
        finally:
            if background is not None:
                await background.stop()
            await close_shared_client()  # the providers' pool, if a check or a job opened it
            await engine.dispose()

    app = FastAPI(
        title="Tenure",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # served by app.api.docs from the installed Swagger UI, not a CDN
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.engine = engine
    app.state.sessionmaker = create_sessionmaker(engine)

    install_problem_handlers(app)
    app.include_router(docs.router)
    app.include_router(system.router)
    for module in (
        workspace,
        owners,
        clients,
        contacts,
        contracts,
        events,
        jobs,
        signals,
        scorecards,
        health,
        cadences,
        tasks,
        triggers,
        integrations,
        emails,
        crm_syncs,
        email_templates,
    ):
        app.include_router(
            module.router,
            responses=error_responses(),
            dependencies=[
                Depends(require_json_accept),
                Depends(reject_unknown_query_parameters),
                Depends(reject_nul_characters),
                Depends(reject_invalid_utf8),
            ],
        )

    app.add_middleware(IdempotencyMiddleware, ttl=timedelta(hours=settings.idempotency_ttl_hours))
    app.add_middleware(
        BodyLimitMiddleware,
        max_body_bytes=settings.max_body_bytes,
        per_path={
            "/v1/events": settings.max_event_batch_bytes,
            "/v1/clients/batch": settings.max_client_batch_bytes,
        },
    )
    app.add_middleware(HeadAsGetMiddleware)
    app.add_middleware(UnexpectedErrorMiddleware)
    app.add_middleware(RequestContextMiddleware)

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            app.openapi_schema = _openapi_document(app)
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
    return app


_DOCUMENT: dict[str, Any] | None = None


def _openapi_document(app: FastAPI) -> dict[str, Any]:
    """Every app instance has the same routes, so the document is built once per process."""
    global _DOCUMENT
    if _DOCUMENT is None:
        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        _DOCUMENT = move_errors_to_problem_media_type(schema)
    return _DOCUMENT
