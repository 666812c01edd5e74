"""GET /v1/jobs and the manual retry, over the outbox rows a workspace's changes wrote."""

import uuid

import httpx
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage
from app.domain.jobs import JobStatus
from tests.factories import create_client, create_contract


async def _fail(app: FastAPI, job_id: str, error: str) -> None:
    async with app.state.sessionmaker() as session:
        await session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.id == uuid.UUID(job_id))
            .values(status=JobStatus.FAILED.value, attempts=5, last_error=error)
        )
        await session.commit()


CHANGED = {"kind": "clients.changed"}
"""A client's creation also announces its fields (`client.updated`); these tests follow the
evaluation fact."""


class TestListJobs:
    async def test_a_client_change_shows_as_a_pending_fact(self, api: httpx.AsyncClient) -> None:
        """No runner in this app: the fact waits for the relay to fan it out to its jobs."""
        client = await create_client(api)
        response = await api.get("/v1/jobs", params=CHANGED)
        assert response.status_code == 200, response.text
        (job,) = response.json()["data"]
        assert job["kind"] == "clients.changed"
        assert (job["job"], job["fact_id"], job["max_attempts"]) == (None, None, None)
        assert job["status"] == "pending"
        assert job["attempts"] == 0
        assert job["payload"] == {"client_ids": [client["id"]]}
        assert job["last_error"] is None

    async def test_filters_by_status_and_kind(self, app: FastAPI, api: httpx.AsyncClient) -> None:
        await create_client(api)
        await create_client(api)
        first, _second = (await api.get("/v1/jobs", params=CHANGED)).json()["data"]
        await _fail(app, first["id"], "boom")

        failed = (await api.get("/v1/jobs", params={"status": "failed"})).json()["data"]
        assert [j["id"] for j in failed] == [first["id"]]
        assert failed[0]["last_error"] == "boom"
        both = await api.get(
            "/v1/jobs",
            params=[("status", "failed"), ("status", "pending"), ("kind", "clients.changed")],
        )
        assert len(both.json()["data"]) == 2
        other_kind = await api.get("/v1/jobs", params={"kind": "signal.opened"})
        assert other_kind.json()["data"] == []

    async def test_newest_first_in_cursor_pages(self, api: httpx.AsyncClient) -> None:
        for _ in range(3):
            await create_client(api)
        seen: list[str] = []
        cursor = None
        while True:
            params = CHANGED | {"limit": 2} | ({"cursor": cursor} if cursor else {})
            page = (await api.get("/v1/jobs", params=params)).json()
            seen += [j["created_at"] for j in page["data"]]
            cursor = page["next_cursor"]
            if not page["has_more"]:
                break
        assert len(seen) == 3
        assert seen == sorted(seen, reverse=True)

    async def test_an_unknown_status_is_a_422_problem(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/jobs", params={"status": "exploded"})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"


class TestRetryJob:
    async def test_a_failed_job_waits_again_with_a_fresh_set_of_tries(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        await create_client(api)
        (job,) = (await api.get("/v1/jobs", params=CHANGED)).json()["data"]
        await _fail(app, job["id"], "the CRM said 503")

        response = await api.post(f"/v1/jobs/{job['id']}/retry")
        assert response.status_code == 200, response.text
        retried = response.json()
        assert retried["status"] == "pending"
        assert retried["attempts"] == 0
        assert retried["last_error"] == "the CRM said 503"  # the history of why stays visible
        assert (await api.get(f"/v1/jobs/{job['id']}")).json()["status"] == "pending"

    async def test_a_job_that_has_not_failed_cannot_be_retried(
        self, api: httpx.AsyncClient
    ) -> None:
        await create_client(api)
        (job,) = (await api.get("/v1/jobs", params=CHANGED)).json()["data"]
        response = await api.post(f"/v1/jobs/{job['id']}/retry")
        assert response.status_code == 409
        assert "pending" in response.json()["detail"]

    async def test_an_unknown_job_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.post(f"/v1/jobs/{uuid.uuid4()}/retry")
        assert response.status_code == 404


class TestContractChangesQueueAnEvaluation:
    async def test_creating_changing_and_deleting_a_contract_each_queue_its_client(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        contract = await create_contract(api, client["id"])
        etag = (await api.get(f"/v1/contracts/{contract['id']}")).headers["etag"]
        patched = await api.patch(
            f"/v1/contracts/{contract['id']}", json={"amount": "99.00"}, headers={"If-Match": etag}
        )
        assert patched.status_code == 200, patched.text
        deleted = await api.delete(
            f"/v1/contracts/{contract['id']}", headers={"If-Match": patched.headers["etag"]}
        )
        assert deleted.status_code == 204, deleted.text

        jobs = (await api.get("/v1/jobs", params={"kind": "clients.changed"})).json()["data"]
        assert len(jobs) == 4  # the client's creation, then the contract's three changes
        assert all(job["payload"] == {"client_ids": [client["id"]]} for job in jobs)
