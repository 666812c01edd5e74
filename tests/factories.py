"""Small async factories with keyword overrides; they go through the real API or services."""

import uuid
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI

from app.services import workspaces


@dataclass(frozen=True)
class Workspace:
    id: uuid.UUID
    admin_key: str
    admin_key_id: uuid.UUID


async def create_workspace(app: FastAPI, name: str = "Acme CS") -> Workspace:
    async with app.state.sessionmaker.begin() as session:
        workspace, issued = await workspaces.create_workspace(session, name)
    return Workspace(id=workspace.id, admin_key=issued.secret, admin_key_id=issued.api_key.id)


async def create_key(app: FastAPI, workspace: Workspace, scopes: list[str]) -> str:
    async with app.state.sessionmaker.begin() as session:
        issued = await workspaces.create_api_key(session, workspace.id, "test key", scopes)
    return issued.secret


def api_client(app: FastAPI, key: str) -> httpx.AsyncClient:
    """A client of `app` authenticated with `key`; use it as `async with`."""
    return httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://tenure.test",
        headers={"Authorization": f"Bearer {key}"},
    )


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def _post(api: httpx.AsyncClient, path: str, body: dict[str, Any]) -> dict[str, Any]:
    response = await api.post(path, json=body)
    assert response.status_code == 201, response.text
    data: dict[str, Any] = response.json()
    return data


async def create_owner(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    body = {"name": f"Owner {suffix}", "email": f"owner-{suffix}@example.com", **overrides}
    return await _post(api, "/v1/owners", body)


async def create_client(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    body = {"name": f"Client {uuid.uuid4().hex[:8]}", **overrides}
    return await _post(api, "/v1/clients", body)


async def create_contact(
    api: httpx.AsyncClient, client_id: str, **overrides: Any
) -> dict[str, Any]:
    suffix = uuid.uuid4().hex[:8]
    body = {"name": f"Contact {suffix}", "email": f"c-{suffix}@example.com", **overrides}
    return await _post(api, f"/v1/clients/{client_id}/contacts", body)


async def create_contract(
    api: httpx.AsyncClient, client_id: str, **overrides: Any
) -> dict[str, Any]:
    body = {
        "client_id": client_id,
        "starts_on": "2026-01-01",
        "ends_on": None,
        "amount": "1000.00",
        "currency": "USD",
        **overrides,
    }
    return await _post(api, "/v1/contracts", body)
