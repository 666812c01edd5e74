"""Helpers that every resource router uses to answer the same way."""

import uuid
from typing import Any

from fastapi import Response

from app.domain.concurrency import etag
from app.services.events import ItemProblem

ITEM_PROBLEM_SLUGS = {409: "conflict", 422: "validation-error"}


def set_etag(response: Response, row_id: uuid.UUID, version: int) -> None:
    response.headers["ETag"] = etag(row_id, version)


def set_location(response: Response, path: str) -> None:
    response.headers["Location"] = path


def item_problem(problem: ItemProblem | None) -> dict[str, Any] | None:
    """A rejected batch item's problem document as plain JSON: a batch (events, clients)
    answers up to 5,000 items, too many to build models for."""
    if problem is None:
        return None
    return {
        "type": f"urn:tenure:problem:{ITEM_PROBLEM_SLUGS.get(problem.status, 'error')}",
        "title": problem.title,
        "status": problem.status,
        "detail": problem.detail,
        "instance": None,
        "errors": problem.errors,
    }
