"""The suppression list: addresses Tenure must not email. People add and remove entries through
`/v1/email-suppressions`; the providers' inbound webhooks (bounces, unsubscribes, complaints)
will feed it through `suppress`, the one function that writes it."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import EmailSuppression
from app.db.repositories.emails import SuppressionRepository
from app.db.repositories.paging import Page
from app.domain.api_keys import Principal
from app.domain.emails import SuppressionReason, is_address, normalize_address
from app.errors import InvalidInput, NotFound


async def suppress(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    email: str,
    reason: SuppressionReason,
    source: str | None,
    detail: str | None,
    now: datetime,
) -> tuple[EmailSuppression, bool]:
    """Lists the address (compared without case); an address listed already keeps one entry
    with the newest reason. Returns the entry and whether it is new. Flushes only."""
    if not is_address(email):
        raise InvalidInput(
            "not an email address",
            errors=[{"loc": ["body", "email"], "msg": "not an email address", "type": "value"}],
        )
    return await SuppressionRepository(session).upsert(
        {
            "id": uuid.uuid4(),
            "workspace_id": workspace_id,
            "email": normalize_address(email),
            "reason": reason.value,
            "source": source,
            "detail": detail[:1000] if detail else None,
            "created_at": now,
            "updated_at": now,
        }
    )


async def list_suppressions(
    session: AsyncSession,
    principal: Principal,
    *,
    email: str | None,
    reasons: tuple[str, ...],
    cursor: str | None,
    limit: int,
) -> Page[EmailSuppression]:
    return await SuppressionRepository(session).page(
        principal.workspace_id,
        email=normalize_address(email) if email else None,
        reasons=reasons,
        cursor=cursor,
        limit=limit,
    )


async def get_suppression(
    session: AsyncSession, principal: Principal, suppression_id: uuid.UUID
) -> EmailSuppression:
    found = await SuppressionRepository(session).get(principal.workspace_id, suppression_id)
    if found is None:
        raise NotFound("suppression not found")
    return found


async def remove_suppression(
    session: AsyncSession, principal: Principal, suppression_id: uuid.UUID
) -> None:
    """Emails to the address may go out again (a bounce that was a full mailbox)."""
    found = await get_suppression(session, principal, suppression_id)
    await SuppressionRepository(session).delete(found)
