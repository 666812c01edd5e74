"""Claiming an Idempotency-Key, and storing the response it produced.

These flush only; the idempotency middleware, the HTTP boundary, commits each step on its own,
so a claim is visible to a racing request before the operation runs."""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import IdempotencyRecord
from app.db.repositories.idempotency import IdempotencyRepository
from app.db.repositories.workspaces import ApiKeyRepository
from app.domain.api_keys import hash_key
from app.domain.idempotency import Decision, StoredAttempt, decide


class KeyTaken(Exception):
    """A racing request inserted the same key first; its transaction must be rolled back."""


@dataclass(frozen=True)
class Claim:
    decision: Decision
    record_id: uuid.UUID | None = None
    status: int | None = None
    headers: dict[str, Any] | None = None
    body: bytes | None = None


async def api_key_id_for(session: AsyncSession, secret: str) -> uuid.UUID | None:
    api_key = await ApiKeyRepository(session).find_active_by_hash(hash_key(secret))
    return api_key.id if api_key else None


async def claim(
    session: AsyncSession,
    api_key_id: uuid.UUID,
    key: str,
    fingerprint: str,
    now: datetime,
    ttl: timedelta,
) -> Claim:
    """Decide, and when the request may run, hold the key for it in a row (committed by the
    caller before the request runs). Raises `KeyTaken` when a racing request got there first."""
    records = IdempotencyRepository(session)
    stored = await records.find(api_key_id, key)
    attempt = None
    if stored is not None:
        attempt = StoredAttempt(
            fingerprint=stored.fingerprint,
            completed=stored.status_code is not None,
            created_at=stored.created_at,
            expires_at=stored.expires_at,
        )
    decision = decide(attempt, fingerprint, now)
    if decision is Decision.REPLAY:
        assert stored is not None
        assert stored.status_code is not None
        return Claim(
            decision, stored.id, stored.status_code, stored.response_headers, stored.response_body
        )
    if decision in (Decision.MISMATCH, Decision.IN_PROGRESS):
        return Claim(decision)
    if decision is Decision.TAKE_OVER and stored is not None:
        await records.delete(stored.id)
    record = IdempotencyRecord(
        id=uuid.uuid4(),
        api_key_id=api_key_id,
        key=key,
        fingerprint=fingerprint,
        created_at=now,
        expires_at=now + ttl,
    )
    try:
        await records.add(record)
    except IntegrityError as exc:
        raise KeyTaken(key) from exc
    return Claim(Decision.PROCEED, record.id)


async def complete(
    session: AsyncSession, record_id: uuid.UUID, status: int, headers: dict[str, Any], body: bytes
) -> None:
    await IdempotencyRepository(session).complete(record_id, status, headers, body)


async def release(session: AsyncSession, record_id: uuid.UUID) -> None:
    """A server error is not an outcome to replay: free the key for a retry."""
    await IdempotencyRepository(session).delete(record_id)


async def purge_expired(session: AsyncSession, now: datetime) -> int:
    """Runs inside a job, whose transaction commits with the job's completion."""
    return await IdempotencyRepository(session).purge_expired(now)
