"""CRM objects for API tests: a HubSpot integration (no call is made to create it) and a
finished import, so another sync of the integration may start."""

import uuid
from typing import Any

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import CrmSync
from app.domain.crm import SyncStatus


async def create_hubspot_integration(
    api: httpx.AsyncClient, name: str = "HubSpot", **fields: Any
) -> str:
    body = {
        "kind": "hubspot",
        "name": name,
        "credentials": {"access_token": "pat-test-token"},
        **fields,
    }
    response = await api.post("/v1/integrations", json=body)
    assert response.status_code == 201, response.text
    integration_id: str = response.json()["id"]
    return integration_id


async def start_sync(api: httpx.AsyncClient, integration_id: str) -> str:
    response = await api.post(f"/v1/integrations/{integration_id}/sync")
    assert response.status_code == 202, response.text
    sync_id: str = response.json()["id"]
    return sync_id


async def finish_syncs(app: FastAPI, integration_id: str) -> None:
    """Marks the integration's imports done, as their last page would."""
    async with app.state.sessionmaker.begin() as session:
        await session.execute(
            sa.update(CrmSync)
            .where(CrmSync.integration_id == uuid.UUID(integration_id))
            .values(status=SyncStatus.SUCCEEDED.value, object=None)
        )
