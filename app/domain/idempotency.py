"""Idempotency-Key rules (IETF httpapi draft, as Stripe does it)."""

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

MAX_KEY_LENGTH = 255
ABANDONED_AFTER = timedelta(minutes=1)


class Decision(StrEnum):
    PROCEED = "proceed"
    REPLAY = "replay"
    MISMATCH = "mismatch"
    IN_PROGRESS = "in_progress"
    TAKE_OVER = "take_over"


@dataclass(frozen=True)
class StoredAttempt:
    fingerprint: str
    completed: bool
    created_at: datetime
    expires_at: datetime


def fingerprint(method: str, path: str, query: str, body: bytes) -> str:
    """Two requests are the same when these are: a JSON body counts by its canonical form."""
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), canonical_body(body)):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


def canonical_body(body: bytes) -> bytes:
    """A JSON body re-serialised with sorted keys and no whitespace, numbers as written, so
    the same JSON sent with its keys in another order is the same request; any other body
    (or JSON too deep to re-serialise) counts byte for byte."""
    try:
        return _canonical(json.loads(body, parse_float=_Number, parse_int=_Number)).encode()
    except (ValueError, RecursionError):  # UnicodeDecodeError and JSONDecodeError included
        return body


class _Number(str):
    """A number's literal as sent: `1.10` and `1.1` stay different requests."""


def _canonical(value: object) -> str:
    if isinstance(value, dict):
        items = sorted(value.items())
        return "{" + ",".join(f"{_canonical(k)}:{_canonical(v)}" for k, v in items) + "}"
    if isinstance(value, list):
        return "[" + ",".join(_canonical(v) for v in value) + "]"
    if isinstance(value, _Number):
        return str.__str__(value)
    return json.dumps(value)  # strings (ASCII-escaped, lone surrogates too), true/false/null


def decide(stored: StoredAttempt | None, request_fingerprint: str, now: datetime) -> Decision:
    """What to do with a request whose key may already have been used."""
    if stored is None:
        return Decision.PROCEED
    if stored.expires_at <= now:
        return Decision.TAKE_OVER
    if stored.fingerprint != request_fingerprint:
        return Decision.MISMATCH
    if stored.completed:
        return Decision.REPLAY
    if now - stored.created_at > ABANDONED_AFTER:
        return Decision.TAKE_OVER
    return Decision.IN_PROGRESS


def is_valid_key(key: str) -> bool:
    return 0 < len(key) <= MAX_KEY_LENGTH and key.isprintable() and key.strip() == key
