"""RFC 9457 problem details for every error, and their place in the OpenAPI document."""

import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError
from starlette.exceptions import HTTPException

from app.api.documented import allowed_methods
from app.domain.limits import MAX_BODY_DEPTH, NUMBER_TOO_LARGE
from app.errors import AppError

logger = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
TITLES = {
    400: "Bad request",
    401: "Unauthenticated",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    406: "Not acceptable",
    409: "Conflict",
    412: "Precondition failed",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Unprocessable content",
    500: "Internal server error",
}


class FieldProblem(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class Problem(BaseModel):
    type: str = Field(examples=["urn:tenure:problem:not-found"])
    title: str = Field(examples=["Not found"])
    status: int = Field(examples=[404])
    detail: str | None = Field(default=None, examples=["client not found"])
    instance: str | None = Field(default=None, examples=["/v1/clients/6f1c…"])
    errors: list[FieldProblem] | None = None


def problem(
    status: int,
    detail: str | None,
    *,
    slug: str | None = None,
    title: str | None = None,
    instance: str | None = None,
    errors: list[dict[str, Any]] | None = None,
    headers: Mapping[str, str] | None = None,
    extensions: Mapping[str, Any] | None = None,
) -> JSONResponse:
    body: dict[str, Any] = {
        "type": f"urn:tenure:problem:{slug or _slug(status)}",
        "title": title or TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if errors is not None:
        body["errors"] = errors
    body.update(extensions or {})
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _slug(status: int) -> str:
    return TITLES.get(status, "error").lower().replace(" ", "-")


def install_problem_handlers(app: FastAPI) -> None:
    async def on_app_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, AppError)
        return problem(
            exc.status,
            exc.detail,
            slug=exc.type_slug,
            title=exc.title,
            instance=request.url.path,
            errors=exc.errors,
            extensions=exc.extensions,
        )

    async def on_validation_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        errors = field_problems(exc.errors())
        if any(e["type"] == "json_invalid" for e in errors):
            return problem(
                400,
                "the request body is not valid JSON",
                slug="malformed-json",
                instance=request.url.path,
                errors=errors,
            )
        return problem(
            422,
            "the request has invalid fields",
            slug="validation-error",
            instance=request.url.path,
            errors=errors,
        )

    async def on_http_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, HTTPException)
        if exc.status_code == 400 and (
            unparsed := unparsable_body(exc.__cause__, request.url.path)
        ):
            return unparsed
        detail = exc.detail if isinstance(exc.detail, str) else None
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            headers["Allow"] = ", ".join(allowed_methods(request.app, request.url.path))
        return problem(exc.status_code, detail, instance=request.url.path, headers=headers)

    async def on_integrity_error(request: Request, exc: Exception) -> JSONResponse:
        logger.info("integrity conflict", extra={"error": str(exc.__cause__ or exc)[:500]})
        return problem(
            409,
            "the change conflicts with existing data",
            slug="conflict",
            instance=request.url.path,
        )

    async def on_stale_data(request: Request, exc: Exception) -> JSONResponse:
        return problem(
            409,
            "the resource was changed concurrently; read it again and retry",
            slug="concurrent-modification",
            instance=request.url.path,
        )

    async def on_unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error", exc_info=exc)
        return problem(500, "an unexpected error occurred", instance=request.url.path)

    app.add_exception_handler(Exception, on_unexpected)
    app.add_exception_handler(AppError, on_app_error)
    app.add_exception_handler(RequestValidationError, on_validation_error)
    app.add_exception_handler(HTTPException, on_http_error)
    app.add_exception_handler(IntegrityError, on_integrity_error)
    app.add_exception_handler(StaleDataError, on_stale_data)


def unparsable_body(cause: BaseException | None, instance: str) -> JSONResponse | None:
    """Why FastAPI's JSON parser gave up on a body ("There was an error parsing the body"),
    when the body is valid JSON the service refuses: too deep for the parser, or an integer
    with more digits than Python converts (4,300)."""
    if isinstance(cause, RecursionError):
        code, message = "json_too_deep", f"JSON must nest at most {MAX_BODY_DEPTH} levels"
    elif isinstance(cause, ValueError) and "integer string conversion" in str(cause):
        code, message = NUMBER_TOO_LARGE.code, NUMBER_TOO_LARGE.message
    elif isinstance(cause, UnicodeDecodeError):
        return problem(
            400, "the request body is not valid UTF-8", slug="malformed-json", instance=instance
        )
    else:
        return None
    return problem(
        422,
        "the request has invalid fields",
        slug="validation-error",
        instance=instance,
        errors=[{"loc": ["body"], "msg": message, "type": code}],
    )


def field_problems(errors: Sequence[Any]) -> list[dict[str, Any]]:
    """Pydantic's error list in the `errors` shape of our problem documents."""
    return [_field_problem(e) for e in errors]


def _field_problem(error: Any) -> dict[str, Any]:
    return {
        "loc": [str(part) if not isinstance(part, int) else part for part in error.get("loc", ())],
        "msg": str(error.get("msg", "")),
        "type": str(error.get("type", "")),
    }


ERROR_STATUSES = (400, 401, 403, 404, 406, 409, 412, 413, 422)


def error_responses() -> dict[int | str, dict[str, Any]]:
    """Every /v1 operation documents the errors any request may meet."""
    return {status: {"model": Problem, "description": TITLES[status]} for status in ERROR_STATUSES}


def move_errors_to_problem_media_type(openapi: dict[str, Any]) -> dict[str, Any]:
    """FastAPI files error models under application/json; they are sent as problem+json."""
    for path_item in openapi.get("paths", {}).values():
        for operation in path_item.values():
            for status, response in operation.get("responses", {}).items():
                content = response.get("content")
                if (
                    status.isdigit()
                    and int(status) >= 400
                    and content
                    and "application/json" in content
                ):
                    response["content"] = {PROBLEM_MEDIA_TYPE: content.pop("application/json")}
    return openapi
