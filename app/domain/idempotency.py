"""Idempotency-Key rules (IETF httpapi draft, as Stripe does it)."""

import hashlib
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
    digest = hashlib.sha256()
    for part in (method.encode(), path.encode(), query.encode(), body):
        digest.update(len(part).to_bytes(8, "big"))
        digest.update(part)
    return digest.hexdigest()


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
