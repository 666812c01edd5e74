"""The action's template rendered for one client, through the templates' own service: the same
context (`app.services.email_context`) and sandbox as `POST /v1/email-templates/{id}/preview`,
so what a person previews is what goes out."""

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.domain.api_keys import Scope, job_principal
from app.domain.email_templates import RenderedEmail, render
from app.errors import NotFound
from app.services.email_context import context_for
from app.services.email_templates import compile_stored, get_template


async def render_for_client(
    session: AsyncSession,
    workspace_id: uuid.UUID,
    template_id: str,
    client_id: uuid.UUID,
    contact_id: uuid.UUID | None,
    now: datetime,
) -> RenderedEmail:
    """Raises `NotFound` when the template is gone, `RenderFailed` when it cannot render for
    this client (both final for the action: another try renders the same)."""
    principal = job_principal(workspace_id, Scope.READ)
    try:
        template = await get_template(session, principal, uuid.UUID(template_id))
    except NotFound as exc:
        raise NotFound(f"the email template {template_id} no longer exists") from exc
    context = await context_for(session, principal, client_id, now, contact_id)
    return render(compile_stored(template), context.variables)
