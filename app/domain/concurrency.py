"""ETags from row versions, and the If-Match rule of optimistic concurrency."""

import uuid

from app.errors import PreconditionFailed


def etag(row_id: uuid.UUID, version: int) -> str:
    return f'"{row_id.hex}.{version}"'


def check_if_match(if_match: str | None, current: str) -> None:
    """No header: last writer wins. `*` matches anything; otherwise one of the listed tags."""
    if if_match is None:
        return
    tags = [tag.strip().removeprefix("W/") for tag in if_match.split(",")]
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed("the resource has changed since it was read (ETag mismatch)")
