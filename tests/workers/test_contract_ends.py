"""`contract.ended`: announced once when a contract is cancelled or its last day passes, by a
real arq job on real Redis for the ones only time ends; history is never news."""

import uuid
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from arq.connections import ArqRedis
from fastapi import FastAPI

from app.config import Settings
from app.db.models import Contract, OutboxMessage
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.jobs import JobStatus
from app.workers.redis import QUEUE_NAME
from tests.factories import create_client, create_contract
from tests.workers.test_maintenance import _run_burst


async def _ended_facts(app: FastAPI) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as session:
        payloads = await session.scalars(
            sa.select(OutboxMessage.payload)
            .where(OutboxMessage.kind == "contract.ended")
            .order_by(OutboxMessage.created_at)
        )
        return [item for payload in payloads for item in payload["contracts"]]


async def _patch(api: httpx.AsyncClient, contract: dict[str, Any], **changes: Any) -> Any:
    current = await api.get(f"/v1/contracts/{contract['id']}")
    response = await api.patch(
        f"/v1/contracts/{contract['id']}",
        json=changes,
        headers={"If-Match": current.headers["etag"]},
    )
    assert response.status_code == 200, response.text
    return response.json()


class TestEndsAnnouncedByEdits:
    async def test_a_cancellation_is_announced_once(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        contract = await create_contract(api, client["id"])
        await _patch(api, contract, status="cancelled")
        await _patch(api, contract, amount="20.00")

        facts = await _ended_facts(app)
        assert [(f["contract_id"], f["client_id"], f["reason"]) for f in facts] == [
            (contract["id"], client["id"], "cancelled")
        ]

    async def test_a_revived_contract_announces_its_next_end(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        contract = await create_contract(api, (await create_client(api))["id"])
        await _patch(api, contract, status="cancelled")
        await _patch(api, contract, status="active")
        await _patch(api, contract, ends_on=(date.today() - timedelta(days=3)).isoformat())

        assert [f["reason"] for f in await _ended_facts(app)] == ["cancelled", "expired"]

    async def test_a_contract_recorded_after_its_end_is_history_not_news(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], starts_on="2024-01-01", ends_on="2024-12-31")
        await create_contract(api, client["id"], status="cancelled")

        assert await _ended_facts(app) == []


class TestEndsAnnouncedByTime:
    async def test_the_hourly_job_announces_each_passed_end_once(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
    ) -> None:
        client = await create_client(api)
        today = datetime.now(UTC).date()
        ending = await create_contract(api, client["id"], ends_on=today.isoformat())
        running = await create_contract(
            api, client["id"], ends_on=(today + timedelta(days=30)).isoformat()
        )
        async with app.state.sessionmaker() as session:
            # Time passes: its last day was yesterday.
            await session.execute(
                sa.update(Contract)
                .where(Contract.id == uuid.UUID(ending["id"]))
                .values(ends_on=today - timedelta(days=1))
            )
            await session.commit()

        for _ in range(2):
            async with app.state.sessionmaker() as session:
                await OutboxRepository(session).add(
                    [NewMessage(kind="contracts.announce_ended", payload={})], datetime.now(UTC)
                )
                await session.commit()
                row = await session.scalar(
                    sa.select(OutboxMessage.id)
                    .where(OutboxMessage.kind == "contracts.announce_ended")
                    .order_by(OutboxMessage.created_at.desc())
                )
            job = await arq_pool.enqueue_job(
                "contracts.announce_ended", str(row), _queue_name=QUEUE_NAME
            )
            assert job is not None
            await _run_burst(settings, redis_url)
            assert await job.result(timeout=5) == JobStatus.SUCCEEDED.value

        facts = await _ended_facts(app)
        assert [(f["contract_id"], f["reason"]) for f in facts] == [(ending["id"], "expired")]
        assert running["id"] not in {f["contract_id"] for f in facts}
