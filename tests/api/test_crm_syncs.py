"""Starting and reading CRM imports: `POST /v1/integrations/{id}/sync`, `/syncs`, `/syncs/{id}`.
No worker runs here: a started sync stays queued, with its first page's job row written."""

import uuid

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage
from tests.crm_support import create_hubspot_integration, finish_syncs
from tests.emails_support import create_log_integration
from tests.factories import Workspace, api_client, create_key, create_workspace

PROBLEM = "application/problem+json"


async def sync_jobs(app: FastAPI) -> list[dict[str, str]]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            sa.select(OutboxMessage.payload).where(OutboxMessage.kind == "crm.sync")
        )
        return [dict(row) for row in rows]


class TestStartSync:
    async def test_answers_202_with_the_queued_sync_and_asks_for_its_first_page(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        integration_id = await create_hubspot_integration(api)

        response = await api.post(f"/v1/integrations/{integration_id}/sync")

        assert response.status_code == 202, response.text
        sync = response.json()
        assert (sync["integration_id"], sync["status"], sync["object"]) == (
            integration_id,
            "queued",
            "owners",
        )
        assert (sync["counts"], sync["error"], sync["started_at"]) == ({}, None, None)
        location = f"/v1/integrations/{integration_id}/syncs/{sync['id']}"
        assert response.headers["location"] == location
        assert (await api.get(location)).json() == sync
        assert await sync_jobs(app) == [{"sync_id": sync["id"]}]

    async def test_is_409_while_another_sync_of_the_integration_is_live(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        integration_id = await create_hubspot_integration(api)
        first = await api.post(f"/v1/integrations/{integration_id}/sync")
        assert first.status_code == 202, first.text

        again = await api.post(f"/v1/integrations/{integration_id}/sync")

        assert again.status_code == 409, again.text
        assert again.headers["content-type"] == PROBLEM
        assert first.json()["id"] in again.json()["detail"]
        assert len(await sync_jobs(app)) == 1

    async def test_starts_again_once_the_last_one_finished(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        integration_id = await create_hubspot_integration(api)
        first = await api.post(f"/v1/integrations/{integration_id}/sync")
        await finish_syncs(app, integration_id)

        again = await api.post(f"/v1/integrations/{integration_id}/sync")

        assert again.status_code == 202, again.text
        assert again.json()["id"] != first.json()["id"]

    async def test_is_422_for_an_email_integration(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        integration_id = await create_log_integration(api)

        response = await api.post(f"/v1/integrations/{integration_id}/sync")

        assert response.status_code == 422, response.text
        assert response.headers["content-type"] == PROBLEM
        assert [e["loc"] for e in response.json()["errors"]] == [["path", "integration_id"]]
        assert await sync_jobs(app) == []

    async def test_is_422_for_a_disabled_crm_integration(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        integration_id = await create_hubspot_integration(api)
        url = f"/v1/integrations/{integration_id}"
        etag = (await api.get(url)).headers["etag"]
        disabled = await api.patch(url, json={"status": "disabled"}, headers={"If-Match": etag})
        assert disabled.status_code == 200, disabled.text

        response = await api.post(f"{url}/sync")

        assert response.status_code == 422, response.text
        assert await sync_jobs(app) == []

    async def test_is_404_for_an_integration_of_another_workspace(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        other = await create_workspace(app, "Other CS")
        async with api_client(app, other.admin_key) as theirs:
            integration_id = await create_hubspot_integration(theirs)

        response = await api.post(f"/v1/integrations/{integration_id}/sync")
        missing = await api.post(f"/v1/integrations/{uuid.uuid4()}/sync")

        assert response.status_code == 404, response.text
        assert response.json()["detail"] == missing.json()["detail"]
        assert await sync_jobs(app) == []

    @pytest.mark.parametrize("scopes", [["read"], ["read", "write"]])
    async def test_needs_the_admin_scope(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, scopes: list[str]
    ) -> None:
        integration_id = await create_hubspot_integration(api)
        key = await create_key(app, workspace, scopes)
        async with api_client(app, key) as limited:
            response = await limited.post(f"/v1/integrations/{integration_id}/sync")
        assert response.status_code == 403, response.text
        assert await sync_jobs(app) == []


class TestReadSyncs:
    async def test_lists_newest_first_in_pages(self, app: FastAPI, api: httpx.AsyncClient) -> None:
        integration_id = await create_hubspot_integration(api)
        made = []
        for _ in range(3):
            response = await api.post(f"/v1/integrations/{integration_id}/sync")
            assert response.status_code == 202, response.text
            made.append(response.json()["id"])
            await finish_syncs(app, integration_id)
        url = f"/v1/integrations/{integration_id}/syncs"

        first = (await api.get(url, params={"limit": 2})).json()
        rest = (await api.get(url, params={"limit": 2, "cursor": first["next_cursor"]})).json()
        oldest_first = (await api.get(url, params={"sort": "created_at"})).json()

        assert [s["id"] for s in first["data"]] == made[::-1][:2]
        assert first["has_more"] is True
        assert ([s["id"] for s in rest["data"]], rest["has_more"]) == ([made[0]], False)
        assert [s["status"] for s in oldest_first["data"]] == ["succeeded"] * 3
        assert [s["id"] for s in oldest_first["data"]] == made

    async def test_lists_only_the_integration_own_syncs(self, api: httpx.AsyncClient) -> None:
        one = await create_hubspot_integration(api, "One")
        two = await create_hubspot_integration(api, "Two")
        started = (await api.post(f"/v1/integrations/{one}/sync")).json()

        assert [
            s["id"] for s in (await api.get(f"/v1/integrations/{one}/syncs")).json()["data"]
        ] == [started["id"]]
        assert (await api.get(f"/v1/integrations/{two}/syncs")).json()["data"] == []
        under_two = await api.get(f"/v1/integrations/{two}/syncs/{started['id']}")
        assert under_two.status_code == 404, under_two.text

    async def test_a_missing_sync_or_integration_is_404(self, api: httpx.AsyncClient) -> None:
        integration_id = await create_hubspot_integration(api)
        for url in (
            f"/v1/integrations/{integration_id}/syncs/{uuid.uuid4()}",
            f"/v1/integrations/{uuid.uuid4()}/syncs",
        ):
            response = await api.get(url)
            assert response.status_code == 404, f"{url}: {response.text}"
            assert response.headers["content-type"] == PROBLEM
