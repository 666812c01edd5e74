"""Expected failures carry their HTTP status so transport can render them as problems."""

from typing import Any


class AppError(Exception):
    status: int = 400
    title: str = "Bad request"
    type_slug: str = "bad-request"

    def __init__(
        self,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        extensions: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(detail)
        self.detail = detail
        self.errors = errors
        self.extensions = extensions or {}
        """RFC 9457 extension members, rendered next to the standard ones."""


class InvalidInput(AppError):
    status = 422
    title = "Unprocessable content"
    type_slug = "validation-error"


class Unauthenticated(AppError):
    status = 401
    title = "Unauthenticated"
    type_slug = "unauthenticated"


class Forbidden(AppError):
    status = 403
    title = "Forbidden"
    type_slug = "forbidden"


class NotFound(AppError):
    status = 404
    title = "Not found"
    type_slug = "not-found"


class Conflict(AppError):
    status = 409
    title = "Conflict"
    type_slug = "conflict"


class PreconditionFailed(AppError):
    status = 412
    title = "Precondition failed"
    type_slug = "precondition-failed"


class PayloadTooLarge(AppError):
    status = 413
    title = "Payload too large"
    type_slug = "payload-too-large"
