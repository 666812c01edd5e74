"""Content negotiation: the API answers JSON, and its errors problem+json. A request whose
Accept header admits neither gets 406 rather than a body it said it cannot read."""

from fastapi import Request

from app.errors import AppError

ANSWERED = ("application/json", "application/problem+json")


class NotAcceptable(AppError):
    status = 406
    title = "Not acceptable"
    type_slug = "not-acceptable"


async def require_json_accept(request: Request) -> None:
    accept = request.headers.get("accept")
    if accept is not None and not accepts_any(accept, ANSWERED):
        raise NotAcceptable(
            "this API answers application/json (errors: application/problem+json); "
            f"the Accept header admits neither: {accept[:200]!r}"
        )


def accepts_any(accept: str, media_types: tuple[str, ...]) -> bool:
    """RFC 9110 12.5.1: each media type takes the quality of the most specific range that
    matches it (`type/subtype` over `type/*` over `*/*`); q=0 means "not acceptable". An
    empty header sets no preference."""
    ranges = [_parse(part) for part in accept.split(",") if part.strip()]
    if not ranges:
        return True
    quality = dict(ranges)
    for media_type in media_types:
        kind = media_type.split("/")[0]
        for candidate in (media_type, f"{kind}/*", "*/*"):
            if candidate in quality:
                if quality[candidate] > 0:
                    return True
                break
    return False


def _parse(part: str) -> tuple[str, float]:
    media_range, *parameters = (piece.strip() for piece in part.split(";"))
    quality = 1.0
    for parameter in parameters:
        name, _, value = parameter.partition("=")
        if name.strip().lower() == "q":
            try:
                quality = float(value.strip())
            except ValueError:  # a malformed weight is ignored, not read as a refusal
                quality = 1.0
    return media_range.lower(), quality
