"""What the email job tests share: a template made through `/v1/email-templates`."""

import uuid

import httpx
from fastapi import FastAPI

from tests.factories import Workspace


async def create_template(
    app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, *, subject: str, text: str
) -> str:
    body = {"name": f"Check-in {uuid.uuid4().hex[:8]}", "subject": subject, "text_body": text}
    response = await api.post("/v1/email-templates", json=body)
    assert response.status_code == 201, response.text
    template_id: str = response.json()["id"]
    return template_id
