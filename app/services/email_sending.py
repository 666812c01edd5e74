"""The second step of an email: send a queued one through its integration and record what the
provider said. Called by the job `emails.send` only (providers are reached from workers).

An email that is not queued any more (sent by an earlier run, discarded) is left alone, so a
rerun of the job never sends twice what was recorded as sent. The row is locked while it is
sent on PostgreSQL; the outbox already runs one job of a row at a time."""

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Email
from app.db.repositories.emails import EmailRepository
from app.domain.api_keys import Principal, Scope
from app.domain.emails import EmailStatus
from app.errors import AppError
from app.integrations.base import Address, EmailProvider, OutgoingEmail, ProviderError
from app.services.events import EventInput, ItemStatus, ingest
from app.services.integration_connections import Connection, email_connection

EVENT_SOURCE = "emails"
"""The source of `email_sent` events; with `email:<id>` as external id an email logs once."""
NO_KEY = uuid.UUID(int=0)
"""The principal of a job's writes: no API key made them."""


class SendFailed(Exception):
    """A send that did not succeed. `connection` holds the calls made, to be saved after the
    job's work is rolled back."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool,
        retry_after: float | None = None,
        connection: Connection[EmailProvider] | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.retryable = retryable
        self.retry_after = retry_after
        self.connection = connection


@dataclass(frozen=True)
class Delivery:
    email_id: uuid.UUID
    status: str
    message_id: str | None = None
    skipped: str | None = None

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"email_id": str(self.email_id), "status": self.status}
        if self.message_id is not None:
            document["message_id"] = self.message_id
        if self.skipped is not None:
            document["skipped"] = self.skipped
        return document


async def send_queued(
    session: AsyncSession, settings: Settings, email_id: uuid.UUID, now: datetime
) -> Delivery:
    """Sends the email if it is queued; marks it sent and logs `email_sent` on the client's
    timeline, in the caller's transaction. Raises `SendFailed`."""
    email = await EmailRepository(session).for_send(email_id)
    if email is None:
        return Delivery(email_id, "gone", skipped="the email no longer exists")
    if email.status != EmailStatus.QUEUED.value:
        return Delivery(email_id, email.status, skipped=f"already {email.status}")
    try:
        connection = await email_connection(
            session, settings, email.workspace_id, email.integration_id
        )
    except AppError as exc:  # the integration was deleted or disabled, or cannot decrypt
        raise SendFailed(exc.detail, retryable=False) from exc
    try:
        sent = await connection.provider.send(outgoing(email))
    except ProviderError as exc:
        raise SendFailed(
            exc.message,
            retryable=exc.retryable,
            retry_after=exc.retry_after,
            connection=connection,
        ) from exc
    message_id = sent.message_id or f"tenure-{email.id}"
    email.status = EmailStatus.SENT.value
    email.status_reason = None
    email.provider_message_id = message_id
    email.attempts += 1
    email.sent_at = now
    email.updated_at = now
    await session.flush()
    await _log_sent(session, email, message_id, now)
    await connection.save(session)
    return Delivery(email.id, EmailStatus.SENT.value, message_id=message_id)


def outgoing(email: Email) -> OutgoingEmail:
    """The stored email as the provider clients take it; our ids travel as its metadata so
    opens, clicks and bounces reported later find their way back."""
    metadata = {
        "tenure_email_id": str(email.id),
        "tenure_workspace_id": str(email.workspace_id),
        "tenure_client_id": str(email.client_id),
    }
    return OutgoingEmail(
        to=Address(email.to_email, email.to_name),
        sender=Address(email.from_email or "", email.from_name),
        subject=email.subject,
        text=email.text_body,
        html=email.html_body,
        reply_to=Address(email.reply_to) if email.reply_to else None,
        metadata=metadata,
    )


async def _log_sent(session: AsyncSession, email: Email, message_id: str, now: datetime) -> None:
    """`email_sent` on the client's timeline. Not a touchpoint and not activity
    (`app.domain.events.NOT_HISTORY`): our own outreach never resets "days since the last
    touchpoint" nor makes a quiet client look active."""
    properties: dict[str, Any] = {"message_id": message_id, "email_id": str(email.id)}
    if email.trigger_id is not None:
        properties["trigger_id"] = str(email.trigger_id)
    if email.cadence_id is not None:
        properties["cadence_id"] = str(email.cadence_id)
    event = EventInput(
        client_id=email.client_id,
        client_external_id=None,
        type="email_sent",
        occurred_at=now,
        value=None,
        properties=properties,
        contact_id=email.contact_id,
        contact_email=None,
        source=EVENT_SOURCE,
        external_id=f"email:{email.id}",
    )
    principal = Principal(email.workspace_id, NO_KEY, (Scope.WRITE,))
    (result,) = await ingest(session, principal, [event], upsert_clients=False, now=now)
    if result.status is ItemStatus.REJECTED:  # the catalogue and this code disagree: a bug
        assert result.problem is not None
        raise RuntimeError(f"email_sent was refused: {result.problem.detail}")


async def record_attempt(
    session: AsyncSession,
    email_id: uuid.UUID,
    failure: SendFailed,
    now: datetime,
    *,
    final: bool,
) -> None:
    """A failed try after the job's work was rolled back: the attempt, its reason, the
    provider calls made; `failed` for good when `final`. The caller commits."""
    status = EmailStatus.FAILED if final else EmailStatus.QUEUED
    await EmailRepository(session).record_attempt(
        email_id, status=status.value, reason=failure.message, now=now
    )
    if failure.connection is not None:
        await failure.connection.save(session)
