"""Signals through the real jobs: the evaluation after ingestion and the daily rescore."""

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from fastapi import FastAPI

from app.workers import health as jobs
from tests.factories import Workspace, api_client, create_client, create_contract
from tests.signals_support import T, evaluate, event, ingest, outbox, stored_signals
from tests.workers.conftest import wait_until
from tests.workers.runs import job_run


async def evaluate_job(app: FastAPI, workspace: Workspace, client_ids: list[str], now: Any) -> None:
    async with app.state.sessionmaker() as session:
        payload = {"client_ids": client_ids}
        await jobs.evaluate_clients(job_run(session, workspace.id, "clients.changed", payload, now))
        await session.commit()


async def rescore_job(app: FastAPI, now: Any) -> None:
    async with app.state.sessionmaker() as session:
        await jobs.rescore_portfolio(job_run(session, None, "health.rescore_portfolio", {}, now))
        await session.commit()


class TestEvaluateJob:
    async def test_opens_the_signals_of_the_touched_clients(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        await ingest(api, [event(client["id"], "payment_failed", 1)])
        await evaluate_job(app, workspace, [client["id"]], T)
        (signal,) = await stored_signals(app)
        assert (signal.kind, signal.status) == ("payment_failed", "open")
        (row,) = await outbox(app, "signal.opened")
        assert [s["signal_id"] for s in row.payload["signals"]] == [str(signal.id)]

    async def test_running_twice_opens_nothing_more(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        await ingest(api, [event(client["id"], "payment_failed", 1)])
        for _ in range(2):
            await evaluate_job(app, workspace, [client["id"]], T)
        assert len(await stored_signals(app)) == 1
        assert len(await outbox(app, "signal.opened")) == 1


class TestDailyRescore:
    async def test_opens_what_no_event_announces_and_resolves_what_cleared(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        # A touchpoint keeps the client from going quiet: its contract dates its acquisition
        # months back, and this test is about what the rescore opens and resolves besides.
        touchpoint = event(client["id"], "touchpoint", 1, properties={"channel": "call"})
        await ingest(api, [event(client["id"], "payment_failed", 1), touchpoint])
        await evaluate(app, workspace.id, [client["id"]])
        await create_contract(
            api, client["id"], ends_on=(T + timedelta(days=100)).date().isoformat()
        )
        await rescore_job(app, T + timedelta(days=15))  # the failure ages out; renewal in 85 days
        assert {s.kind: s.status for s in await stored_signals(app)} == {
            "payment_failed": "resolved",
            "renewal_approaching": "open",
        }
        assert len(await outbox(app, "signal.resolved")) == 1


class TestFromEventToSignal:
    async def test_a_failed_payment_shows_as_a_signal_within_seconds(
        self, embedded: FastAPI, workspace: Workspace
    ) -> None:
        async with api_client(embedded, workspace.admin_key) as api:
            client = await create_client(api)
            started = time.monotonic()
            failed = {
                "client_id": client["id"],
                "type": "payment_failed",
                "occurred_at": (datetime.now(UTC) - timedelta(minutes=1)).isoformat(),
            }
            response = await api.post("/v1/events", json={"events": [failed]})
            assert response.status_code == 200, response.text

            async def shown() -> bool:
                page = (await api.get(f"/v1/clients/{client['id']}/signals")).json()
                return [s["kind"] for s in page["data"]] == ["payment_failed"]

            await wait_until(shown, seconds=10)
            assert time.monotonic() - started < 5.0
