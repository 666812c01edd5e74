"""Emails for API tests: the `send_email` action's own service writes them (drafts for review,
or queued/suppressed through the guards), as the action job would, without a worker."""

import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
from fastapi import FastAPI

from app.domain.emails import parse_params
from app.services.emails import EmailCause, compose


async def create_log_integration(api: httpx.AsyncClient, label: str = "Main") -> str:
    """The development kind, which records instead of sending: emails need an integration."""
    body = {
        "kind": "log",
        "name": f"{label} email",
        "credentials": {},
        "options": {"from_email": "success@tenure.example"},
    }
    response = await api.post("/v1/integrations", json=body)
    assert response.status_code == 201, response.text
    integration_id: str = response.json()["id"]
    return integration_id


async def create_email_template(api: httpx.AsyncClient, label: str = "Check-in") -> str:
    body = {
        "name": f"{label} {uuid.uuid4().hex[:6]}",
        "subject": "Checking in on {{ client.name }}",
        "text_body": "Hi {{ contact.first_name }}, how is {{ client.name }} doing?",
    }
    response = await api.post("/v1/email-templates", json=body)
    assert response.status_code == 201, response.text
    template_id: str = response.json()["id"]
    return template_id


async def write_email(
    app: FastAPI,
    workspace_id: uuid.UUID,
    client_id: str,
    template_id: str,
    *,
    now: datetime | None = None,
    **params: Any,
) -> str:
    """The email one `send_email` action run writes for the client (a draft by default);
    returns its id. A parameter given as None is left out (`review=None`: the settings decide)."""
    given = {"template_id": template_id, "review": True, **params}
    parsed, problems = parse_params({k: v for k, v in given.items() if v is not None})
    assert parsed is not None, problems
    async with app.state.sessionmaker.begin() as session:
        email, created = await compose(
            session,
            workspace_id,
            uuid.UUID(client_id),
            parsed,
            EmailCause(),
            now or datetime.now(UTC),
        )
    assert created
    return str(email.id)
