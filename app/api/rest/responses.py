"""Helpers that every resource router uses to answer the same way."""

import uuid

from fastapi import Response

from app.domain.concurrency import etag


def set_etag(response: Response, row_id: uuid.UUID, version: int) -> None:
    response.headers["ETag"] = etag(row_id, version)


def set_location(response: Response, path: str) -> None:
    response.headers["Location"] = path
