"""tasks.escalate: snoozed tasks wake, overdue ones escalate once; run as the job body and as a
real arq job on Redis."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import sqlalchemy as sa
from arq.connections import ArqRedis
from arq.worker import Worker
from fastapi import FastAPI

from app.config import Settings
from app.db.models import OutboxMessage, Task
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.workers import tasks as jobs
from app.workers.redis import QUEUE_NAME
from app.workers.settings import worker_options
from tests.factories import Workspace, api_client, create_client, create_owner, create_workspace
from tests.workers.runs import job_run

Json = dict[str, Any]
NOW = datetime.now(UTC).replace(microsecond=0)


def at(hours: float) -> str:
    return (NOW + timedelta(hours=hours)).isoformat()


async def escalate(app: FastAPI, now: datetime, workspace: Workspace | None = None) -> Json:
    async with app.state.sessionmaker() as session:
        run = job_run(session, workspace.id if workspace else None, "tasks.escalate", {}, now)
        result: Json = await jobs.escalate_overdue(run)
        await session.commit()
    return result


async def task(api: httpx.AsyncClient, task_id: str) -> Json:
    response = await api.get(f"/v1/tasks/{task_id}")
    assert response.status_code == 200, response.text
    found: Json = response.json()
    return found


async def make(api: httpx.AsyncClient, client_id: str, **fields: Any) -> Json:
    response = await api.post("/v1/tasks", json={"client_id": client_id, "title": "Call", **fields})
    assert response.status_code == 201, response.text
    made: Json = response.json()
    return made


async def listed(api: httpx.AsyncClient, **params: Any) -> list[Json]:
    response = await api.get("/v1/tasks", params=params)
    assert response.status_code == 200, response.text
    found: list[Json] = response.json()["data"]
    return found


class TestWake:
    async def test_a_snoozed_task_opens_once_its_time_passes(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        made = await make(api, client["id"])
        snoozed = await api.post(f"/v1/tasks/{made['id']}/snooze", json={"until": at(2)})
        assert snoozed.status_code == 200, snoozed.text

        assert (await escalate(app, NOW + timedelta(hours=1)))["woken"] == 0
        assert (await task(api, made["id"]))["status"] == "snoozed"

        assert (await escalate(app, NOW + timedelta(hours=2)))["woken"] == 1
        woken = await task(api, made["id"])
        assert (woken["status"], woken["snoozed_until"]) == ("open", None)
        assert snoozed.headers["etag"] != (await api.get(f"/v1/tasks/{made['id']}")).headers["etag"]


class TestEscalation:
    async def test_an_overdue_task_gets_a_second_task_for_the_escalation_owner_once(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        owner, manager = await create_owner(api), await create_owner(api)
        response = await api.patch(
            "/v1/task-settings", json={"escalation": {"after_hours": 24, "owner_id": manager["id"]}}
        )
        assert response.status_code == 200, response.text
        client = await create_client(api, owner_id=owner["id"])
        await create_owner(api)  # free, but the manager is named
        await make(api, (await create_client(api))["id"], owner_id=manager["id"])
        overdue = await make(api, client["id"], due_at=at(-25), channel="call", priority="low")
        recent = await make(api, client["id"], due_at=at(-23))

        result = await escalate(app, NOW)
        assert result["escalated"] == 1
        escalated = await task(api, overdue["id"])
        assert escalated["escalated_at"] is not None
        assert (escalated["owner_id"], escalated["priority"]) == (owner["id"], "low")
        (second,) = await listed(api, source="escalation")
        assert (second["owner_id"], second["priority"], second["escalates_task_id"]) == (
            manager["id"],
            "urgent",
            overdue["id"],
        )
        assert (second["title"], second["channel"]) == ("Overdue: Call", "call")
        assert second["due_at"] == at(24).replace("+00:00", "Z")
        assert (await task(api, recent["id"]))["escalated_at"] is None

        assert (await escalate(app, NOW + timedelta(hours=48)))["escalated"] == 1  # `recent`
        assert len(await listed(api, source="escalation")) == 2
        assert (await escalate(app, NOW + timedelta(days=30)))["escalated"] == 0  # once each

    async def test_reassignment_moves_the_task_and_makes_it_urgent(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        owner, manager = await create_owner(api), await create_owner(api)
        await api.patch(
            "/v1/task-settings",
            json={"escalation": {"action": "reassign", "owner_id": manager["id"]}},
        )
        client = await create_client(api, owner_id=owner["id"])
        overdue = await make(api, client["id"], due_at=at(-49))

        assert (await escalate(app, NOW))["escalated"] == 1
        moved = await task(api, overdue["id"])
        assert (moved["owner_id"], moved["priority"]) == (manager["id"], "urgent")
        assert moved["escalated_at"] == moved["assigned_at"] is not None
        assert await listed(api, source="escalation") == []
        async with app.state.sessionmaker() as session:
            (payload,) = await session.scalars(
                sa.select(OutboxMessage.payload).where(OutboxMessage.kind == "task.escalated")
            )
        (item,) = payload["tasks"]
        assert (item["previous_owner_id"], item["owner_id"], item["action"]) == (
            owner["id"],
            manager["id"],
            "reassign",
        )

    async def test_without_an_escalation_owner_the_least_loaded_colleague_takes_it(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        owner, busy, free = [await create_owner(api) for _ in range(3)]
        client = await create_client(api, owner_id=owner["id"])
        other = await create_client(api, owner_id=busy["id"])
        await make(api, other["id"])
        overdue = await make(api, client["id"], due_at=at(-72))

        assert (await escalate(app, NOW))["escalated"] == 1
        (second,) = await listed(api, source="escalation")
        assert second["owner_id"] == free["id"]
        assert (await task(api, overdue["id"]))["owner_id"] == owner["id"]

    async def test_done_snoozed_disabled_and_escalation_tasks_never_escalate(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, owner_id=(await create_owner(api))["id"])
        done = await make(api, client["id"], due_at=at(-100))
        await api.post(f"/v1/tasks/{done['id']}/complete", json={"outcome": "ok"})
        snoozed = await make(api, client["id"], due_at=at(-100))
        await api.post(f"/v1/tasks/{snoozed['id']}/snooze", json={"until": at(1)})
        assert (await escalate(app, NOW))["escalated"] == 0

        overdue = await make(api, client["id"], due_at=at(-100))
        await api.patch("/v1/task-settings", json={"escalation": {"enabled": False}})
        assert (await escalate(app, NOW))["escalated"] == 0
        await api.patch("/v1/task-settings", json={"escalation": {"enabled": True}})
        assert (await escalate(app, NOW))["escalated"] == 1
        (second,) = await listed(api, source="escalation")
        # A week on, the snoozed task has woken and is overdue: it escalates; the escalation
        # task, overdue too, does not.
        assert (await escalate(app, NOW + timedelta(days=7)))["escalated"] == 1
        assert (await task(api, second["id"]))["escalated_at"] is None
        assert (await task(api, overdue["id"]))["escalated_at"] is not None

    async def test_each_workspace_escalates_by_its_own_delay_and_owners(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        quick = await create_workspace(app, "Quick CS")
        async with api_client(app, quick.admin_key) as other:
            await api.patch("/v1/task-settings", json={"escalation": {"after_hours": 1}})
            ours = await make(api, (await create_client(api))["id"], due_at=at(-2), owner_id=None)
            theirs_owner = await create_owner(other)
            theirs = await make(other, (await create_client(other))["id"], due_at=at(-2))

            assert (await escalate(app, NOW))["escalated"] == 1
            assert (await task(api, ours["id"]))["escalated_at"] is not None
            assert (await task(other, theirs["id"]))["escalated_at"] is None  # 48 h there
            assert await listed(other, source="escalation") == []
            (second,) = await listed(api, source="escalation")
            assert second["owner_id"] != theirs_owner["id"]


class TestAsAnArqJob:
    async def test_a_real_worker_runs_the_escalation(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
    ) -> None:
        client = await create_client(api, owner_id=(await create_owner(api))["id"])
        overdue = await make(api, client["id"], due_at=at(-49))
        snoozed = await make(api, client["id"])
        await api.post(f"/v1/tasks/{snoozed['id']}/snooze", json={"until": at(1)})
        async with app.state.sessionmaker() as session:
            await session.execute(
                sa.update(Task)
                .where(Task.id == uuid.UUID(snoozed["id"]))
                .values(snoozed_until=NOW - timedelta(minutes=1))
            )
            await OutboxRepository(session).add(
                [NewMessage(kind="tasks.escalate", payload={"tick": NOW.isoformat()})],
                datetime.now(UTC),
            )
            await session.commit()
            row_id = await session.scalar(
                sa.select(OutboxMessage.id).where(OutboxMessage.kind == "tasks.escalate")
            )
        job = await arq_pool.enqueue_job("tasks.escalate", str(row_id), _queue_name=QUEUE_NAME)
        assert job is not None
        worker = Worker(
            **{**worker_options(settings, redis_url), "cron_jobs": None},
            burst=True,
            handle_signals=False,
        )
        try:
            await worker.main()
        finally:
            await worker.close()

        assert await job.result(timeout=5) == "succeeded"
        assert (await task(api, overdue["id"]))["escalated_at"] is not None
        assert len(await listed(api, source="escalation")) == 1
        assert (await task(api, snoozed["id"]))["status"] == "open"
