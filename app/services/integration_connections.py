"""A live connection to one integration's provider, for the jobs that send and sync (and the
API's `/test`): the integration loaded and decrypted, its provider built over the shared HTTP
client, and every call the provider makes buffered in memory.

Why buffered: a failed job's transaction is rolled back (app/workers/execution.py), yet its
failed calls are exactly the ones worth keeping. The calls stay in `Connection.calls` whatever
happens to the session; the caller writes them with `await connection.save(session)`, in the
job's session when it succeeds, or in a fresh session after a rollback::

    connection = await email_connection(session, settings, workspace_id)
    try:
        sent = await connection.provider.send(email)
    finally:
        async with sessionmaker() as log_session:   # survives the job's rollback
            await connection.save(log_session)
            await log_session.commit()

Credentials a provider renews (Salesforce's access token) are kept the same way and stored
encrypted by `save`, unless someone replaced the integration's credentials meanwhile."""

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Generic, TypeVar

import httpx
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings
from app.db.models import Integration
from app.db.repositories.integrations import IntegrationCallRepository, IntegrationRepository
from app.domain.integration_settings import redact
from app.domain.integrations import KINDS, IntegrationKind, Purpose
from app.errors import NotFound
from app.integrations.base import CrmProvider, EmailProvider, ProviderCall
from app.integrations.credentials import cipher_for
from app.integrations.http import ProviderHttp, shared_client
from app.integrations.providers import crm_provider, email_provider

P = TypeVar("P", EmailProvider, CrmProvider)


class NoIntegration(NotFound):
    """The workspace has no usable integration for what was asked."""


@dataclass(eq=False)
class CallBuffer:
    """What a provider reports while it works, kept in memory until `Connection.save`."""

    calls: list[ProviderCall] = field(default_factory=list)
    renewed_credentials: dict[str, str] | None = field(default=None, repr=False)

    def record(self, call: ProviderCall) -> None:
        self.calls.append(call)

    def credentials_changed(self, credentials: dict[str, str]) -> None:
        self.renewed_credentials = dict(credentials)


@dataclass(eq=False)
class Connection(Generic[P]):
    integration_id: uuid.UUID
    workspace_id: uuid.UUID
    kind: IntegrationKind
    provider: P
    buffer: CallBuffer
    settings: Settings = field(repr=False)
    credentials: dict[str, str] = field(repr=False)
    """Decrypted, in memory only (to redact provider messages); never logged."""
    stored_credentials: str = field(repr=False)
    """The token as loaded: a renewal replaces only this one."""
    integration: Integration = field(repr=False)
    """The row as loaded in the caller's session (its options, its name): read it here rather
    than load it again. Stale once that session rolled back; `save` does not use it."""

    @property
    def calls(self) -> list[ProviderCall]:
        """Calls made and not yet saved."""
        return self.buffer.calls

    async def save(self, session: AsyncSession) -> None:
        """Writes the buffered calls (and renewed credentials) in `session` and empties the
        buffer; the caller commits. Uses plain ids, so it works in a session other than the
        one the integration was loaded in, and after that one was rolled back."""
        calls, self.buffer.calls = self.buffer.calls, []
        await IntegrationCallRepository(session).add_many(
            self.workspace_id, self.integration_id, [self._redacted(c) for c in calls]
        )
        renewed = self.buffer.renewed_credentials
        if renewed is not None:
            token = cipher_for(self.settings).encrypt(renewed)
            if await IntegrationRepository(session).replace_credentials(
                self.integration_id, self.stored_credentials, token
            ):
                self.stored_credentials = token
            self.credentials = renewed
            self.buffer.renewed_credentials = None
        await session.flush()

    def _redacted(self, call: ProviderCall) -> ProviderCall:
        if call.error is None:
            return call
        return replace(
            call, url=redact(call.url, self.credentials), error=redact(call.error, self.credentials)
        )


def open_connection(
    settings: Settings, integration: Integration
) -> "Connection[EmailProvider] | Connection[CrmProvider]":
    """A connection to `integration` whatever its purpose and status (the API's `/test`)."""
    if KINDS[IntegrationKind(integration.kind)].purpose is Purpose.EMAIL:
        return _email(settings, integration)
    return _crm(settings, integration)


async def email_connection(
    session: AsyncSession,
    settings: Settings,
    workspace_id: uuid.UUID,
    integration_id: uuid.UUID | None = None,
) -> Connection[EmailProvider]:
    """The given email integration, or the workspace's (its oldest active one); it must be
    active. `NoIntegration` otherwise; `CredentialsUnreadable` when the key cannot decrypt."""
    integration = await _active(session, workspace_id, integration_id, Purpose.EMAIL)
    return _email(settings, integration)


async def crm_connection(
    session: AsyncSession,
    settings: Settings,
    workspace_id: uuid.UUID,
    integration_id: uuid.UUID | None = None,
) -> Connection[CrmProvider]:
    """As `email_connection`, for the CRM."""
    integration = await _active(session, workspace_id, integration_id, Purpose.CRM)
    return _crm(settings, integration)


async def _active(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    integration_id: uuid.UUID | None,
    purpose: Purpose,
) -> Integration:
    integrations = IntegrationRepository(session)
    if integration_id is None:
        kinds = [k.value for k, spec in KINDS.items() if spec.purpose is purpose]
        found = await integrations.oldest_active(workspace_id, kinds)
        if found is None:
            raise NoIntegration(f"the workspace has no active {purpose.value} integration")
        return found
    integration = await integrations.get(workspace_id, integration_id)
    if integration is None:
        raise NoIntegration("integration not found")
    if KINDS[IntegrationKind(integration.kind)].purpose is not purpose:
        raise NoIntegration(
            f"integration {integration.name!r} is not a {purpose.value} integration"
        )
    if integration.status != "active":
        raise NoIntegration(f"integration {integration.name!r} is disabled")
    return integration


def _email(settings: Settings, integration: Integration) -> Connection[EmailProvider]:
    return _connect(settings, integration, email_provider)


def _crm(settings: Settings, integration: Integration) -> Connection[CrmProvider]:
    return _connect(settings, integration, crm_provider)


def _connect(settings: Settings, integration: Integration, make: Callable[..., P]) -> Connection[P]:
    kind, credentials, buffer = _prepare(settings, integration)
    provider = make(
        kind,
        _http(settings, kind, buffer),
        integration.base_url or "",
        credentials,
        on_credentials=buffer.credentials_changed,
    )
    return Connection(
        integration.id,
        integration.workspace_id,
        kind,
        provider,
        buffer,
        settings,
        credentials,
        integration.credentials_encrypted,
        integration,
    )


def _prepare(
    settings: Settings, integration: Integration
) -> tuple[IntegrationKind, dict[str, str], CallBuffer]:
    credentials = cipher_for(settings).decrypt(integration.credentials_encrypted)
    return IntegrationKind(integration.kind), credentials, CallBuffer()


def _http(settings: Settings, kind: IntegrationKind, buffer: CallBuffer) -> ProviderHttp:
    return ProviderHttp(
        shared_client(allow_loopback=settings.allow_loopback_urls),
        httpx.Timeout(KINDS[kind].timeout_seconds),
        record=buffer.record,
    )
