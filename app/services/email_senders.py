"""Which integration an email goes through and what sender address it offers.

An email integration's options may name its verified sender: `from_email` (and `from_name`).
Providers accept mail only from addresses verified with them, so an email "from the owner"
goes out from that address with the owner's name, and the owner's address as reply-to."""

import uuid
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from app.db.repositories.integrations import IntegrationRepository
from app.domain.emails import is_address
from app.domain.integrations import KINDS, IntegrationKind, Purpose
from app.services.integration_connections import NoIntegration

EMAIL_KINDS = [k.value for k, spec in KINDS.items() if spec.purpose is Purpose.EMAIL]


@dataclass(frozen=True)
class SenderAccount:
    integration_id: uuid.UUID
    from_email: str | None
    from_name: str | None


async def email_account(
    session: AsyncSession, workspace_id: uuid.UUID, integration_id: str | None
) -> SenderAccount:
    """The named email integration, else the workspace's oldest active one; `NoIntegration`
    when there is none usable (the send job connects to the same one later)."""
    integrations = IntegrationRepository(session)
    if integration_id is None:
        integration = await integrations.oldest_active(workspace_id, EMAIL_KINDS)
        if integration is None:
            raise NoIntegration("the workspace has no active email integration")
    else:
        integration = await integrations.get(workspace_id, uuid.UUID(integration_id))
        if integration is None:
            raise NoIntegration("the action's integration_id names no integration")
        if KINDS[IntegrationKind(integration.kind)].purpose is not Purpose.EMAIL:
            raise NoIntegration(f"integration {integration.name!r} is not an email integration")
        if integration.status != "active":
            raise NoIntegration(f"integration {integration.name!r} is disabled")
    options = integration.options or {}
    from_email = options.get("from_email")
    from_name = options.get("from_name")
    return SenderAccount(
        integration.id,
        from_email.strip() if isinstance(from_email, str) and is_address(from_email) else None,
        from_name if isinstance(from_name, str) and from_name.strip() else None,
    )
