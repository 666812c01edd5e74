"""Opaque keyset cursors: stable under concurrent inserts, tied to the sort they came from."""

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

from app.errors import AppError

DEFAULT_LIMIT = 50
MAX_LIMIT = 100


class InvalidCursor(AppError):
    status = 400
    title = "Invalid cursor"
    type_slug = "invalid-cursor"


@dataclass(frozen=True)
class Cursor:
    sort: str
    values: list[Any]


def encode_cursor(cursor: Cursor) -> str:
    raw = json.dumps({"s": cursor.sort, "v": cursor.values}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(token: str, sort: str) -> Cursor:
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
        data = json.loads(raw)
        cursor = Cursor(sort=str(data["s"]), values=list(data["v"]))
    except (binascii.Error, ValueError, KeyError, TypeError) as exc:
        raise InvalidCursor("the cursor is not one this API issued") from exc
    if cursor.sort != sort:
        raise InvalidCursor(f"the cursor was issued for sort={cursor.sort!r}, not {sort!r}")
    return cursor
