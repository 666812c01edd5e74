"""The health jobs: evaluate the clients an event touched, rescore every portfolio."""

import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import HealthSnapshot
from app.facts import UnreadableFact, parse
from app.services import health as health_service
from app.workers import health as jobs
from app.workers.job import JobRun, PermanentJobError
from tests.factories import Workspace, api_client, create_client, create_workspace
from tests.workers.conftest import wait_until
from tests.workers.runs import job_run

NOW = datetime(2026, 10, 1, 12, tzinfo=UTC)


def run(
    session: Any, workspace_id: uuid.UUID | None, payload: dict[str, Any], now: datetime = NOW
) -> JobRun:
    kind = "clients.changed" if "client_ids" in payload else "health.rescore_portfolio"
    return job_run(session, workspace_id, kind, payload, now)


async def stored(app: FastAPI) -> list[HealthSnapshot]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(sa.select(HealthSnapshot))).all())


class TestEvaluateClients:
    async def test_stores_the_scores_with_the_run(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api, tier="mid")
        async with app.state.sessionmaker() as session:
            result = await jobs.evaluate_clients(
                run(session, workspace.id, {"client_ids": [client["id"]]})
            )
            assert await stored(app) == []  # flushed, not committed: the run commits
            await session.commit()
        assert result == {"clients": 1, "stored": 1}
        (score,) = await stored(app)
        assert (str(score.client_id), score.computed_at, score.latest) == (client["id"], NOW, True)

    async def test_running_twice_stores_nothing_more(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        for _ in range(2):
            async with app.state.sessionmaker() as session:
                await jobs.evaluate_clients(
                    run(session, workspace.id, {"client_ids": [client["id"]]})
                )
                await session.commit()
        assert len(await stored(app)) == 1

    async def test_a_client_of_another_workspace_is_ignored(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        other = await create_workspace(app, "Other")
        async with app.state.sessionmaker() as session:
            result = await jobs.evaluate_clients(
                run(session, other.id, {"client_ids": [client["id"]]})
            )
        assert result == {"clients": 0, "stored": 0}

    @pytest.mark.parametrize(
        "payload", [{}, {"client_ids": "x"}, {"client_ids": ["not-an-id"]}, {"client_ids": []}]
    )
    def test_a_bad_payload_does_not_parse(self, payload: dict[str, Any]) -> None:
        with pytest.raises(UnreadableFact):
            parse("clients.changed", payload)

    async def test_another_fact_fails_for_good(self, app: FastAPI, workspace: Workspace) -> None:
        async with app.state.sessionmaker() as session:
            rescore = run(session, workspace.id, {})
            with pytest.raises(PermanentJobError, match="not ClientsChanged"):
                await jobs.evaluate_clients(rescore)


class TestRescorePortfolio:
    async def test_scores_every_client_of_every_workspace(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        other = await create_workspace(app, "Other")
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app),
            base_url="http://tenure.test",
            headers={"Authorization": f"Bearer {other.admin_key}"},
        ) as other_api:
            for _ in range(3):
                await create_client(other_api)
        for _ in range(2):
            await create_client(api)
        async with app.state.sessionmaker() as session:
            result = await jobs.rescore_portfolio(run(session, None, {}))
            await session.commit()
        assert result["clients"] == 5
        assert len(await stored(app)) == 5


class TestRescoreWorkspace:
    async def test_batches_cover_every_client_once(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        for _ in range(5):
            await create_client(api)
        async with app.state.sessionmaker() as session:
            result = await health_service.rescore_workspace(session, workspace.id, NOW, 2)
            await session.commit()
        assert (result.evaluated, result.stored) == (5, 5)
        assert len({s.client_id for s in await stored(app)}) == 5


class TestFromEventToScore:
    async def test_a_new_event_is_scored_within_two_seconds(
        self, embedded: FastAPI, workspace: Workspace
    ) -> None:
        async with api_client(embedded, workspace.admin_key) as api:
            client = await create_client(api)
            url = f"/v1/clients/{client['id']}/health/history"
            await wait_until(
                lambda: _has_history(api, url, 1), seconds=10
            )  # the client's creation is a change too
            started = time.monotonic()
            occurred = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
            touch = {
                "client_id": client["id"],
                "type": "touchpoint",
                "occurred_at": occurred,
                "properties": {"channel": "call"},
            }
            response = await api.post("/v1/events", json={"events": [touch]})
            assert response.status_code == 200, response.text
            await wait_until(lambda: _has_history(api, url, 2), seconds=5)
            assert time.monotonic() - started < 2.0


async def _has_history(api: httpx.AsyncClient, url: str, count: int) -> bool:
    return len((await api.get(url)).json()["data"]) >= count
