"""open_task on a real database, as triggers and cadences call it: dedupe, assignment, facts."""

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import OutboxMessage, Task
from app.db.repositories.tasks import TaskRepository
from app.errors import InvalidInput
from app.services.tasks import TaskOpened, open_task
from tests.factories import Workspace, create_client, create_owner, create_workspace

T = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


async def opened(app: FastAPI, workspace: Workspace, **fields: Any) -> TaskOpened:
    """One call in its own transaction, committed as a job run would."""
    fields.setdefault("title", "Call the champion")
    fields.setdefault("now", T)
    if isinstance(fields.get("client_id"), str):
        fields["client_id"] = uuid.UUID(fields["client_id"])
    if isinstance(fields.get("owner_id"), str):
        fields["owner_id"] = uuid.UUID(fields["owner_id"])
    async with app.state.sessionmaker.begin() as session:
        return await open_task(session, workspace.id, **fields)


async def stored(app: FastAPI) -> list[Task]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(sa.select(Task).order_by(Task.created_at))).all())


async def facts(app: FastAPI, kind: str) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(sa.select(OutboxMessage).where(OutboxMessage.kind == kind))
        return [row.payload for row in rows]


class TestDedupe:
    async def test_a_refiring_updates_the_open_task_instead_of_adding_one(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        key = f"trigger:{uuid.uuid4()}"
        first = await opened(app, workspace, client_id=client["id"], dedupe_key=key)
        second = await opened(
            app,
            workspace,
            client_id=client["id"],
            dedupe_key=key,
            title="Call the champion today",
            priority="high",
            due_at=T + timedelta(days=2),
            now=T + timedelta(hours=1),
        )
        assert first.created
        assert not second.created
        assert second.task_id == first.task_id
        (task,) = await stored(app)
        assert (task.title, task.priority, task.due_at) == (
            "Call the champion today",
            "high",
            T + timedelta(days=2),
        )
        assert len(await facts(app, "task.created")) == 1

    async def test_a_closed_task_frees_its_key(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        first = await opened(app, workspace, client_id=client["id"], dedupe_key="cadence:x:1")
        async with app.state.sessionmaker.begin() as session:
            await session.execute(
                sa.update(Task).where(Task.id == first.task_id).values(status="done")
            )
        second = await opened(app, workspace, client_id=client["id"], dedupe_key="cadence:x:1")
        assert second.created
        assert second.task_id != first.task_id

    async def test_the_same_key_at_another_client_is_another_task(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        one, other = await create_client(api), await create_client(api)
        first = await opened(app, workspace, client_id=one["id"], dedupe_key="k")
        second = await opened(app, workspace, client_id=other["id"], dedupe_key="k")
        assert first.created
        assert second.created


class TestConcurrentOpening:
    async def test_the_insert_yields_to_an_open_task_holding_the_key(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        """What a re-firing meets when a concurrent one committed the key after it looked."""
        client = await create_client(api)
        first = await opened(app, workspace, client_id=client["id"], dedupe_key="k")
        row = {
            "workspace_id": workspace.id,
            "client_id": uuid.UUID(client["id"]),
            "title": "Call again",
            "priority": "normal",
            "status": "open",
            "source": "trigger",
            "dedupe_key": "k",
            "created_at": T,
            "updated_at": T,
        }
        async with app.state.sessionmaker.begin() as session:
            tasks = TaskRepository(session)
            assert await tasks.insert({**row, "id": uuid.uuid4()}) is None
            other = await tasks.insert({**row, "id": uuid.uuid4(), "dedupe_key": "other"})
            assert other is not None
            assert (other.title, other.dedupe_key, other.version) == ("Call again", "other", 1)
        assert {t.id for t in await stored(app)} == {first.task_id, other.id}


class TestAssignment:
    async def test_the_client_owner_gets_the_task(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner = await create_owner(api)
        client = await create_client(api, owner_id=owner["id"])
        result = await opened(app, workspace, client_id=client["id"])
        assert result.owner_id == uuid.UUID(owner["id"])

    async def test_a_named_owner_wins_over_the_client_owner(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owner, named = await create_owner(api), await create_owner(api)
        client = await create_client(api, owner_id=owner["id"])
        result = await opened(app, workspace, client_id=client["id"], owner_id=named["id"])
        assert result.owner_id == uuid.UUID(named["id"])

    async def test_an_inactive_named_owner_is_refused(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        gone = await create_owner(api, active=False)
        client = await create_client(api)
        with pytest.raises(InvalidInput) as refused:
            await opened(app, workspace, client_id=client["id"], owner_id=gone["id"])
        assert refused.value.errors == [
            {
                "loc": ["body", "owner_id"],
                "msg": "owner_id does not name an active owner of this workspace",
                "type": "reference",
            }
        ]

    async def test_round_robin_rotates_through_active_owners_in_one_instant(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        owners = sorted([(await create_owner(api))["id"] for _ in range(3)])
        await create_owner(api, active=False)
        clients = [await create_client(api) for _ in range(7)]
        picks = [
            str(
                (await opened(app, workspace, client_id=c["id"], assignment="round_robin")).owner_id
            )
            for c in clients
        ]
        assert picks == [*owners, *owners, owners[0]]

    async def test_round_robin_picks_who_got_a_task_least_recently(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        a, b = (await create_owner(api))["id"], (await create_owner(api))["id"]
        client = await create_client(api)
        await opened(app, workspace, client_id=client["id"], owner_id=b, now=T)
        await opened(app, workspace, client_id=client["id"], owner_id=a, now=T + timedelta(hours=1))
        result = await opened(
            app, workspace, client_id=client["id"], now=T + timedelta(hours=2)
        )  # no client owner: the workspace's fallback, round-robin
        assert str(result.owner_id) == b

    async def test_least_loaded_picks_the_fewest_open_tasks(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        busy, free = (await create_owner(api))["id"], (await create_owner(api))["id"]
        client = await create_client(api)
        for hour in range(2):
            await opened(
                app, workspace, client_id=client["id"], owner_id=busy, now=T + timedelta(hours=hour)
            )
        await opened(app, workspace, client_id=client["id"], owner_id=free, now=T)
        result = await opened(
            app, workspace, client_id=client["id"], assignment="least_loaded", now=T
        )
        assert str(result.owner_id) == free

    async def test_without_active_owners_the_task_is_unassigned(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        result = await opened(app, workspace, client_id=client["id"], assignment="least_loaded")
        assert result.owner_id is None


class TestValidation:
    async def test_every_problem_is_reported_at_once(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        with pytest.raises(InvalidInput) as refused:
            await opened(
                app,
                workspace,
                client_id=client["id"],
                title=" ",
                priority="asap",
                channel="fax",
                source="robot",
            )
        assert refused.value.errors is not None
        assert {e["loc"][1] for e in refused.value.errors} == {
            "title",
            "priority",
            "channel",
            "source",
        }
        assert await stored(app) == []

    async def test_a_client_of_another_workspace_is_unknown(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        other = await create_workspace(app, "Other")
        with pytest.raises(InvalidInput):
            await opened(app, other, client_id=client["id"])
        assert await stored(app) == []
