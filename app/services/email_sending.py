"""The second step of an email: send a queued one through its integration and record what the
provider said. Called by the job `emails.send` only (providers are reached from workers).

A run sends its own email, then drains a batch of the workspace's other queued emails of the
same integration through the same connection, and logs all their `email_sent` events in one
ingestion. The batch-mates' send jobs are finished in the same transaction (those not being
claimed right now), so most never run; one that runs anyway finds its email sent in one read.

An email is sent only by the run that holds it queued and locked (PostgreSQL: the row, FOR
UPDATE, SKIP LOCKED for batch-mates; SQLite: its one writer lock), so no run sends what another
sent or is sending, and a rerun never sends twice what was recorded as sent. A crash after the
provider accepted an email but before the commit can still send it again, as with any send.
Only the run's own email goes through the failure path (attempt recorded, retried); a
batch-mate the provider refuses is left queued, untouched, for its own job."""

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Email
from app.db.repositories.emails import EmailRepository
from app.db.repositories.outbox import OutboxRepository
from app.domain.api_keys import Scope, job_principal
from app.domain.emails import EmailStatus
from app.errors import AppError
from app.integrations.base import Address, EmailProvider, OutgoingEmail, ProviderError
from app.services.emails import SEND_JOB, send_job_key
from app.services.events import EventInput, ItemProblem, ItemStatus, ingest
from app.services.integration_connections import Connection, email_connection

EVENT_SOURCE = "emails"
"""The source of `email_sent` events; with `email:<id>` as external id an email logs once."""
BATCH_SIZE = 50
"""Emails one run sends: its own and up to 49 queued ones of the same integration."""
CONCURRENCY = 10
"""Batch-mates in flight at once over the run's one provider connection."""
SLOW_SEND_SECONDS = 5.0
MATES_START_SECONDS = 15.0
"""A slow provider gets no batch, and no batch-mate starts after this long: a run must
commit well within the job's timeout (120 s), since a run cancelled after the provider
accepted its emails sends them all again."""


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
    batch_sent: int = 0
    batch_left: int = 0
    """Batch-mates sent by this run, and those the provider did not take (still queued)."""

    def document(self) -> dict[str, Any]:
        document: dict[str, Any] = {"email_id": str(self.email_id), "status": self.status}
        if self.message_id is not None:
            document["message_id"] = self.message_id
        if self.skipped is not None:
            document["skipped"] = self.skipped
        if self.batch_sent or self.batch_left:
            document["batch"] = {"sent": self.batch_sent, "left": self.batch_left}
        return document


async def send_queued(
    session: AsyncSession,
    settings: Settings,
    email_id: uuid.UUID,
    now: datetime,
    *,
    batch: int = BATCH_SIZE,
) -> Delivery:
    """Sends the email if it is queued, then up to `batch - 1` of its workspace's other
    queued emails through the same connection; marks the sent ones sent and logs their
    `email_sent` events, in the caller's transaction. Raises `SendFailed` for this email
    only: a batch-mate that fails stays queued, untouched, for its own job."""
    emails = EmailRepository(session)
    status = await emails.status_of(email_id)
    if status is None:
        return Delivery(email_id, "gone", skipped="the email no longer exists")
    if status != EmailStatus.QUEUED.value:  # most often: a batch sent it
        return Delivery(email_id, status, skipped=f"already {status}")
    await emails.lock_sending()
    email = await emails.for_send(email_id)
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
    # This email goes first and alone: while the provider refuses or is down, a run tries
    # one email, not a batch.
    started = time.monotonic()
    try:
        sent = await connection.provider.send(outgoing(email))
    except ProviderError as exc:
        raise SendFailed(
            exc.message,
            retryable=exc.retryable,
            retry_after=exc.retry_after,
            connection=connection,
        ) from exc
    accepted = [(email, sent.message_id or f"tenure-{email.id}")]
    mates: list[Email] = []
    if batch > 1 and time.monotonic() - started < SLOW_SEND_SECONDS:
        mates = await emails.claim_queued(
            email.workspace_id, email.integration_id, besides=email.id, limit=batch - 1
        )
        accepted += await _send_mates(connection.provider, mates)
    for each, message_id in accepted:
        each.status = EmailStatus.SENT.value
        each.status_reason = None
        each.provider_message_id = message_id
        each.attempts += 1
        each.sent_at = now
        each.updated_at = now
    await session.flush()
    # The batch-mates' own jobs have nothing left to do: finished now, most never run.
    await OutboxRepository(session).finish_done(
        SEND_JOB, [send_job_key(mate.id) for mate, _ in accepted[1:]], now
    )
    await _log_sent(session, accepted, now)
    await connection.save(session)
    return Delivery(
        email.id,
        EmailStatus.SENT.value,
        message_id=accepted[0][1],
        batch_sent=len(accepted) - 1,
        batch_left=len(mates) - (len(accepted) - 1),
    )


async def _send_mates(provider: EmailProvider, mates: list[Email]) -> list[tuple[Email, str]]:
    """The batch-mates the provider accepted, with their message ids, CONCURRENCY at a time.
    After a failure worth retrying (an outage, a 429), or past the start budget, no further
    one is started: those left wait for their own jobs and their retry schedules."""
    semaphore = asyncio.Semaphore(CONCURRENCY)
    accepted: list[tuple[Email, str]] = []
    halted = False
    deadline = time.monotonic() + MATES_START_SECONDS

    async def send(mate: Email) -> None:
        nonlocal halted
        async with semaphore:
            if halted or time.monotonic() > deadline:
                return
            try:
                sent = await provider.send(outgoing(mate))
            except ProviderError as exc:
                halted = halted or exc.retryable
                return
            accepted.append((mate, sent.message_id or f"tenure-{mate.id}"))

    await asyncio.gather(*(send(m) for m in mates))
    return accepted


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


async def _log_sent(
    session: AsyncSession, accepted: list[tuple[Email, str]], now: datetime
) -> None:
    """`email_sent` on each client's timeline, in one ingestion (one `event.ingested` and
    one `clients.changed` fact for the batch). Not a touchpoint and not activity
    (`app.domain.events.NOT_HISTORY`): our own outreach never resets "days since the last
    touchpoint" nor makes a quiet client look active."""
    events: list[EventInput | ItemProblem] = []
    for email, message_id in accepted:
        properties: dict[str, Any] = {"message_id": message_id, "email_id": str(email.id)}
        if email.trigger_id is not None:
            properties["trigger_id"] = str(email.trigger_id)
        if email.cadence_id is not None:
            properties["cadence_id"] = str(email.cadence_id)
        events.append(
            EventInput(
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
        )
    principal = job_principal(accepted[0][0].workspace_id, Scope.WRITE)
    for result in await ingest(session, principal, events, upsert_clients=False, now=now):
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
