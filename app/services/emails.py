"""Emails: the record the `send_email` action writes (queued, suppressed, or a draft for
review), review by a person (approve, discard), the API's reads and the email settings.

Writing the record is the first of two steps: no provider is called here. A queued email
carries an outbox row for the job `emails.send`, written in the same transaction, so an email
once accepted is sent even if the provider is down for hours."""

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import ActionRun, Client, Contact, Email, EmailSettingsRecord, Owner
from app.db.repositories.clients import ClientRepository
from app.db.repositories.emails import EmailFilters, EmailRepository, SuppressionRepository
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.db.repositories.paging import Page
from app.db.repositories.tasks import TaskRepository
from app.domain import emails as rules
from app.domain.api_keys import Principal
from app.domain.clients import ClientStatus
from app.domain.concurrency import check_if_match, etag
from app.domain.emails import (
    EmailSettings,
    EmailStatus,
    GuardInput,
    RecipientKind,
    SendEmailParams,
    normalize_address,
)
from app.domain.tasks import MAX_BODY, MAX_TITLE, TaskSource, TaskStatus
from app.errors import Conflict, InvalidInput, NotFound
from app.services import tasks as task_service
from app.services.email_rendering import render_for_client
from app.services.email_senders import SenderAccount, email_account

SEND_JOB = "emails.send"
"""The job that sends one queued email; its outbox rows carry `{"email_id": ...}`."""


def send_job_key(email_id: uuid.UUID) -> str:
    """The dedupe key of the email's one send job row."""
    return f"email:{email_id}"


class EmailNotPossible(InvalidInput):
    """The action cannot make an email for this client (no recipient, no template, no
    integration): another try changes nothing until the data does."""


@dataclass(frozen=True)
class EmailCause:
    """What made the email: the action run (one email per run) and its trigger or cadence."""

    action_run_id: uuid.UUID | None = None
    trigger_id: uuid.UUID | None = None
    cadence_id: uuid.UUID | None = None


async def compose(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    client_id: uuid.UUID,
    params: SendEmailParams,
    cause: EmailCause,
    now: datetime,
) -> tuple[Email, bool]:
    """The action's email for the client and whether it is new: a retried action run finds
    the email it made. Renders the template, applies the guards, and stores the email as
    queued (with its send job), suppressed (with the reason) or a draft with a review task.
    Raises `EmailNotPossible`. Flushes only."""
    emails = EmailRepository(session)
    if cause.action_run_id is not None:
        made = await emails.of_action_run(cause.action_run_id)
        if made is not None:
            return made, False
    client = await ClientRepository(session).get(workspace_id, client_id)
    if client is None:
        raise EmailNotPossible("the client no longer exists")
    owner = await _owner(session, workspace_id, client.owner_id)
    to_address, to_name, contact_id = await _recipient(session, client, owner, params)
    account = await email_account(session, workspace_id, params.integration_id)
    sender_email, sender_name, reply_to = _sender(params, account, owner)
    rendered = await render_for_client(
        session, workspace_id, params.template_id, client.id, contact_id, now
    )
    settings = await load_settings(session, workspace_id)
    review = settings.review if params.review is None else params.review
    email = Email(
        id=uuid.uuid4(),
        workspace_id=workspace_id,
        client_id=client.id,
        contact_id=contact_id,
        owner_id=owner.id if owner is not None else None,
        integration_id=account.integration_id,
        template_id=uuid.UUID(params.template_id),
        action_run_id=cause.action_run_id,
        trigger_id=cause.trigger_id,
        cadence_id=cause.cadence_id,
        to_email=to_address,
        to_name=to_name,
        from_email=sender_email,
        from_name=sender_name,
        reply_to=reply_to,
        subject=rendered.subject,
        text_body=rendered.text,
        html_body=rendered.html,
        status=EmailStatus.QUEUED.value,
        attempts=0,
        created_at=now,
        updated_at=now,
    )
    if review:
        email.status = EmailStatus.DRAFT.value
        await emails.add(email)
        email.task_id = await _open_review_task(session, email, now)
    else:
        refusal = await _guard(session, email, client, params.allow_churned, now)
        if refusal is not None:
            email.status, email.status_reason = EmailStatus.SUPPRESSED.value, refusal
        await emails.add(email)
        if refusal is None:
            await _queue(session, email, now)
    await session.flush()
    return email, True


async def _owner(
    session: AsyncSession, workspace_id: uuid.UUID, owner_id: uuid.UUID | None
) -> Owner | None:
    if owner_id is None:
        return None
    stmt = sa.select(Owner).where(Owner.workspace_id == workspace_id, Owner.id == owner_id)
    return (await session.scalars(stmt)).one_or_none()


async def _recipient(
    session: AsyncSession, client: Client, owner: Owner | None, params: SendEmailParams
) -> tuple[str, str | None, uuid.UUID | None]:
    """(address, name, contact id) of whom the action names."""
    if params.to.kind is RecipientKind.OWNER:
        if owner is None or not owner.active:
            raise EmailNotPossible("the client has no active owner to email")
        return normalize_address(owner.email), owner.name, None
    stmt = sa.select(Contact).where(Contact.client_id == client.id)
    if params.to.kind is RecipientKind.PRIMARY_CONTACT:
        stmt = stmt.where(Contact.is_primary.is_(True))
        missing = "the client has no primary contact"
    else:
        assert params.to.role is not None
        stmt = stmt.where(sa.func.lower(Contact.role) == params.to.role.lower())
        missing = f"the client has no contact with the role {params.to.role!r}"
    # Among several contacts of a role: the primary one, then the oldest.
    stmt = stmt.order_by(Contact.is_primary.desc(), Contact.created_at, Contact.id)
    contacts = list((await session.scalars(stmt)).all())
    if not contacts:
        raise EmailNotPossible(missing)
    reachable = [c for c in contacts if c.email]
    if not reachable:
        raise EmailNotPossible(f"{missing} with an email address")
    contact = reachable[0]
    assert contact.email is not None
    return normalize_address(contact.email), contact.name, contact.id


def _sender(
    params: SendEmailParams, account: SenderAccount, owner: Owner | None
) -> tuple[str, str | None, str | None]:
    """(from address, from name, reply-to). From the owner: the integration's verified
    sender address with the owner's name, the owner's address as reply-to."""
    if params.sender.email is not None:
        return params.sender.email, params.sender.name, None
    owner_email = owner.email if owner is not None and owner.active else None
    address = account.from_email or owner_email
    if address is None:
        raise EmailNotPossible(
            "no sender address: the email integration has no `from_email` option and the "
            "client has no active owner"
        )
    name = owner.name if owner is not None and owner.active else account.from_name
    return address, name, owner_email


async def _guard(
    session: AsyncSession,
    email: Email,
    client: Client,
    allow_churned: bool,
    now: datetime,
) -> str | None:
    """Why the email must not go out, or None. Holds the address's lock until the
    transaction ends, so two emails to one address never both pass the cap."""
    emails = EmailRepository(session)
    settings = await load_settings(session, email.workspace_id)
    await emails.lock_address(email.workspace_id, email.to_email)
    facts = GuardInput(
        client_churned=client.status == ClientStatus.CHURNED.value,
        allow_churned=allow_churned,
        suppression=await SuppressionRepository(session).reason(email.workspace_id, email.to_email),
        recent_count=await emails.recent_count(
            email.workspace_id, email.to_email, rules.cap_window_start(settings, now)
        ),
    )
    return rules.refusal(facts, settings)


async def _queue(session: AsyncSession, email: Email, now: datetime) -> None:
    await OutboxRepository(session).add(
        [
            NewMessage(
                kind=SEND_JOB,
                payload={"email_id": str(email.id)},
                workspace_id=email.workspace_id,
                dedupe_key=send_job_key(email.id),
            )
        ],
        now,
    )


async def _open_review_task(session: AsyncSession, email: Email, now: datetime) -> uuid.UUID:
    if email.trigger_id is not None:
        source = TaskSource.TRIGGER
    elif email.cadence_id is not None:
        source = TaskSource.CADENCE
    else:
        source = TaskSource.MANUAL
    opened = await task_service.open_task(
        session,
        email.workspace_id,
        client_id=email.client_id,
        title=f"Review the email to {email.to_name or email.to_email}: {email.subject}"[:MAX_TITLE],
        body=review_body(email)[:MAX_BODY],
        now=now,
        source=source.value,
        dedupe_key=f"email:{email.id}",
        trigger_id=email.trigger_id,
        cadence_id=email.cadence_id,
    )
    return opened.task_id


def review_body(email: Email) -> str:
    """The draft as the owner reads it in the task, with what approves or discards it."""
    sender = f"{email.from_name} <{email.from_email}>" if email.from_name else email.from_email
    receiver = f"{email.to_name} <{email.to_email}>" if email.to_name else email.to_email
    return (
        f"Approve: POST /v1/emails/{email.id}/approve\n"
        f"Discard: POST /v1/emails/{email.id}/discard\n\n"
        f"From: {sender}\nTo: {receiver}\nSubject: {email.subject}\n\n{email.text_body}"
    )


# Review --------------------------------------------------------------------------------------


async def approve(
    session: AsyncSession,
    principal: Principal,
    email_id: uuid.UUID,
    if_match: str | None,
    now: datetime,
) -> Email:
    """Queues a draft after the guards pass again (time has passed since it was written:
    the cap may be full, the address listed, the client churned). A refusal leaves the draft
    as it is and answers 409 with the reason."""
    email = await _load(session, principal, email_id, if_match)
    rules.check_reviewable(EmailStatus(email.status))
    client = await ClientRepository(session).get(principal.workspace_id, email.client_id)
    if client is None:
        raise NotFound("email not found")
    refusal = await _guard(session, email, client, await _allows_churned(session, email), now)
    if refusal is not None:
        raise Conflict(f"the email cannot be sent now: {refusal}")
    email.status = EmailStatus.QUEUED.value
    email.approved_at = now
    email.updated_at = now
    await session.flush()
    await _queue(session, email, now)
    await _close_review_task(session, principal, email, now, done=True)
    return email


async def discard(
    session: AsyncSession,
    principal: Principal,
    email_id: uuid.UUID,
    if_match: str | None,
    now: datetime,
) -> Email:
    email = await _load(session, principal, email_id, if_match)
    rules.check_reviewable(EmailStatus(email.status))
    email.status = EmailStatus.DISCARDED.value
    email.updated_at = now
    await session.flush()
    await _close_review_task(session, principal, email, now, done=False)
    return email


async def _allows_churned(session: AsyncSession, email: Email) -> bool:
    """The action's own word on churned clients, read from the run that made the email."""
    if email.action_run_id is None:
        return False
    params = await session.scalar(
        sa.select(ActionRun.params).where(ActionRun.id == email.action_run_id)
    )
    return bool(isinstance(params, Mapping) and params.get("allow_churned") is True)


async def _close_review_task(
    session: AsyncSession, principal: Principal, email: Email, now: datetime, *, done: bool
) -> None:
    """Done on approval, cancelled on discard; a task someone closed already stays closed."""
    if email.task_id is None:
        return
    task = await TaskRepository(session).get(principal.workspace_id, email.task_id)
    if task is None or task.status not in (TaskStatus.OPEN.value, TaskStatus.SNOOZED.value):
        return
    if done:
        await task_service.complete_task(
            session,
            principal,
            task.id,
            outcome="Email approved and queued",
            channel=None,
            occurred_at=None,
            if_match=None,
            now=now,
        )
    else:
        await task_service.cancel_task(session, principal, task.id, None, now)


# Reads ---------------------------------------------------------------------------------------


async def get_email(session: AsyncSession, principal: Principal, email_id: uuid.UUID) -> Email:
    email = await EmailRepository(session).get(principal.workspace_id, email_id)
    if email is None:
        raise NotFound("email not found")
    return email


async def list_emails(
    session: AsyncSession,
    principal: Principal,
    filters: EmailFilters,
    *,
    cursor: str | None,
    limit: int,
) -> Page[Email]:
    if filters.to_email is not None:
        filters = EmailFilters(
            client_id=filters.client_id,
            statuses=filters.statuses,
            to_email=normalize_address(filters.to_email),
            created_from=filters.created_from,
            created_before=filters.created_before,
        )
    return await EmailRepository(session).page(
        principal.workspace_id, filters, cursor=cursor, limit=limit
    )


async def _load(
    session: AsyncSession, principal: Principal, email_id: uuid.UUID, if_match: str | None
) -> Email:
    email = await get_email(session, principal, email_id)
    check_if_match(if_match, etag(email.id, email.version))
    return email


# Settings ------------------------------------------------------------------------------------


async def load_settings(session: AsyncSession, workspace_id: uuid.UUID) -> EmailSettings:
    record = await EmailRepository(session).settings(workspace_id)
    return rules.DEFAULT_SETTINGS if record is None else rules.from_document(record.settings)


async def get_settings(session: AsyncSession, principal: Principal) -> tuple[EmailSettings, str]:
    """The settings with their ETag (version 0 while the workspace runs on the defaults)."""
    record = await EmailRepository(session).settings(principal.workspace_id)
    settings = rules.DEFAULT_SETTINGS if record is None else rules.from_document(record.settings)
    return settings, _settings_tag(principal.workspace_id, record)


async def update_settings(
    session: AsyncSession, principal: Principal, changes: dict[str, Any], if_match: str | None
) -> tuple[EmailSettings, str]:
    repository = EmailRepository(session)
    record = await repository.settings(principal.workspace_id)
    check_if_match(if_match, _settings_tag(principal.workspace_id, record))
    current = rules.DEFAULT_SETTINGS if record is None else rules.from_document(record.settings)
    updated = rules.apply_changes(current, changes)
    document = rules.to_document(updated)
    if record is None:
        record = EmailSettingsRecord(workspace_id=principal.workspace_id, settings=document)
        await repository.add_settings(record)
    else:
        record.settings = document
    await session.flush()
    return updated, _settings_tag(principal.workspace_id, record)


def _settings_tag(workspace_id: uuid.UUID, record: EmailSettingsRecord | None) -> str:
    return etag(workspace_id, 0 if record is None else record.version)
