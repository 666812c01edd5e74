"""The cadence jobs on the real database: the hourly tick (steps that fall due, resets,
pauses, sequence exits, tier reconciliation, isolation) and following changed clients; the
tick also as a real arq job on real Redis, and in embedded mode through to the owner's task."""

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from arq.connections import ArqRedis
from arq.worker import Worker
from fastapi import FastAPI

from app.config import Settings
from app.db.models import ActionRun, Cadence, CadenceEnrollment, Client, OutboxMessage, Task
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.api_keys import Principal, Scope
from app.domain.cadences import EnrollmentSource
from app.domain.jobs import JobStatus
from app.services import cadence_enrolment
from app.services import cadences as service
from app.services.tasks import open_task
from app.workers import cadences as jobs
from app.workers.execution import Outcome
from app.workers.redis import QUEUE_NAME
from app.workers.settings import worker_options
from tests.cadence_support import drop_cadences
from tests.factories import Workspace, api_client, create_client, create_owner, create_workspace
from tests.workers.conftest import wait_until
from tests.workers.runs import job_run
from tests.workers.test_trigger_jobs import run_actions

DAY = timedelta(days=1)


@pytest.fixture(autouse=True)
async def _without_default_cadences(app: FastAPI, workspace: Workspace) -> None:
    await drop_cadences(app, workspace.id)


async def _enrolments(app: FastAPI) -> list[tuple[Any, ...]]:
    async with app.state.sessionmaker() as session:
        rows = await session.execute(
            sa.select(
                CadenceEnrollment.id,
                CadenceEnrollment.status,
                CadenceEnrollment.source,
                CadenceEnrollment.exit_reason,
            )
        )
        return [tuple(row) for row in rows]


def moment() -> datetime:
    """Now, to the second: events may not lie in the future, so tests count back from it."""
    return datetime.now(UTC).replace(microsecond=0)


def principal(workspace: Workspace) -> Principal:
    return Principal(
        workspace_id=workspace.id, api_key_id=workspace.admin_key_id, scopes=(Scope.ADMIN,)
    )


async def make_cadence(
    app: FastAPI, workspace: Workspace, at: datetime, **document: Any
) -> uuid.UUID:
    """A cadence written as of `at`, so its enrolments start then."""
    body = {
        "name": "Mid every 30 days",
        "kind": "rhythm",
        "tier": "mid",
        "interval_days": 30,
        "steps": None,
        **document,
    }
    async with app.state.sessionmaker.begin() as session:
        cadence = await service.create_cadence(session, principal(workspace), body, at)
        return cadence.id


async def tick(app: FastAPI, at: datetime, workspace_id: uuid.UUID | None = None) -> dict[str, Any]:
    async with app.state.sessionmaker.begin() as session:
        return await jobs.tick(job_run(session, workspace_id, "cadences.tick", {}, at))


async def latest_enrolment(app: FastAPI, client_id: str) -> CadenceEnrollment | None:
    async with app.state.sessionmaker() as session:
        rows = await session.scalars(
            sa.select(CadenceEnrollment)
            .where(CadenceEnrollment.client_id == uuid.UUID(client_id))
            .order_by(CadenceEnrollment.enrolled_at.desc())
        )
        found: CadenceEnrollment | None = rows.first()
        return found


async def enrolment(app: FastAPI, client_id: str) -> CadenceEnrollment:
    found = await latest_enrolment(app, client_id)
    assert found is not None
    return found


async def action_runs(app: FastAPI, client_id: str | None = None) -> list[ActionRun]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(ActionRun).order_by(ActionRun.created_at)
        if client_id is not None:
            stmt = stmt.where(ActionRun.client_id == uuid.UUID(client_id))
        return list((await session.scalars(stmt)).all())


async def log_event(
    api: httpx.AsyncClient, client_id: str, kind: str, at: datetime, **properties: str
) -> None:
    event = {
        "client_id": client_id,
        "type": kind,
        "occurred_at": at.isoformat(),
        "properties": properties,
    }
    response = await api.post("/v1/events", json={"events": [event]})
    assert response.status_code == 200, response.text


async def cadence_task(
    app: FastAPI, workspace: Workspace, client_id: str, cadence_id: uuid.UUID, at: datetime
) -> uuid.UUID:
    """The task a cadence step opens (as its create_task action would)."""
    async with app.state.sessionmaker.begin() as session:
        opened = await open_task(
            session,
            workspace.id,
            client_id=uuid.UUID(client_id),
            title="Touch base",
            now=at,
            source="cadence",
            dedupe_key=f"cadence:{cadence_id}:0",
            cadence_id=cadence_id,
            cadence_step=0,
        )
        return opened.task_id


class TestDueSteps:
    async def test_a_due_step_schedules_its_action_for_the_enrolment(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api, tier="mid")
        cadence_id = await make_cadence(app, workspace, now - 31 * DAY)
        assert await tick(app, now - 2 * DAY) == {
            "enrolled": 0,
            "ended": 0,
            "evaluated": 0,
            "fired": 0,
            "reset": 0,
            "paused": 0,
            "exited": {},
        }
        result = await tick(app, now)
        assert (result["evaluated"], result["fired"], result["paused"]) == (1, 1, 1)
        (run,) = await action_runs(app)
        enrolled = await enrolment(app, client["id"])
        assert (run.kind, run.params, run.cadence_id, run.cadence_step) == (
            "create_task",
            {"title": "Touch base with {{client.name}}"},
            cadence_id,
            0,
        )
        assert (run.cadence_enrollment_id, run.client_id, run.due_at) == (
            enrolled.id,
            uuid.UUID(client["id"]),
            now,
        )
        assert (enrolled.last_step, enrolled.last_step_at, enrolled.paused_at) == (0, now, now)
        assert (enrolled.next_step, enrolled.next_due_at) == (0, now + 30 * DAY)

    @pytest.mark.parametrize("stop", ["disable the cadence", "end the enrolment"])
    async def test_a_step_whose_cadence_stopped_before_it_ran_is_skipped(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, stop: str
    ) -> None:
        now = moment()
        client = await create_client(api, tier="mid")
        cadence_id = await make_cadence(app, workspace, now - 31 * DAY)
        assert (await tick(app, now))["fired"] == 1
        async with app.state.sessionmaker() as session:
            if stop == "disable the cadence":
                await session.execute(
                    sa.update(Cadence).where(Cadence.id == cadence_id).values(enabled=False)
                )
            else:
                await session.execute(
                    sa.update(CadenceEnrollment)
                    .where(CadenceEnrollment.client_id == uuid.UUID(client["id"]))
                    .values(status="ended", ended_at=now, exit_reason="replied")
                )
            await session.commit()

        assert await run_actions(app) == [Outcome.SUCCEEDED]
        (run,) = await action_runs(app)
        assert run.status == "skipped"
        async with app.state.sessionmaker() as session:
            assert (await session.scalars(sa.select(Task))).all() == []

    async def test_a_second_tick_fires_nothing_more(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        await create_client(api, tier="mid")
        await make_cadence(app, workspace, now - 31 * DAY)
        await tick(app, now)
        assert (await tick(app, now))["fired"] == 0
        assert (await tick(app, now + timedelta(hours=1)))["fired"] == 0
        assert len(await action_runs(app)) == 1

    async def test_steps_of_a_sequence_fire_in_turn_and_it_completes(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api)
        steps = [
            {"offset_days": d, "action": {"kind": "create_task", "params": {"title": f"Day {d}"}}}
            for d in (0, 2)
        ]
        cadence_id = await make_cadence(
            app,
            workspace,
            now - 10 * DAY,
            kind="sequence",
            tier=None,
            interval_days=None,
            steps=steps,
        )
        async with app.state.sessionmaker.begin() as session:
            await cadence_enrolment.enroll_once(
                session,
                workspace.id,
                cadence_id=cadence_id,
                client_id=uuid.UUID(client["id"]),
                now=now - 10 * DAY,
                source=EnrollmentSource.MANUAL,
            )
        await tick(app, now - 10 * DAY)
        # the first step's task pauses the clock until it is closed (here: it never opened)
        result = await tick(app, now - 10 * DAY + timedelta(hours=1))
        assert result["fired"] == 0
        result = await tick(app, now - 5 * DAY)
        assert (result["fired"], result["exited"]) == (1, {"completed": 1})
        assert [(r.cadence_step, r.params["title"]) for r in await action_runs(app)] == [
            (0, "Day 0"),
            (1, "Day 2"),
        ]
        ended = await enrolment(app, client["id"])
        assert (ended.status, ended.exit_reason, ended.next_due_at) == ("ended", "completed", None)


class TestReset:
    async def test_a_touchpoint_logged_between_ticks_resets_before_the_step_falls_due(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api, tier="mid")
        await make_cadence(app, workspace, now - 31 * DAY)
        touched = now - 2 * DAY
        await log_event(api, client["id"], "touchpoint", touched, channel="note")
        result = await tick(app, now)
        assert (result["fired"], result["reset"]) == (0, 1)
        enrolled = await enrolment(app, client["id"])
        assert (enrolled.anchor_at, enrolled.next_step, enrolled.next_due_at) == (
            touched,
            0,
            touched + 30 * DAY,
        )
        assert await action_runs(app) == []

    async def test_a_touchpoint_of_a_channel_the_cadence_ignores_does_not_reset(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api, tier="mid")
        await make_cadence(app, workspace, now - 31 * DAY, channels=["call", "meeting"])
        await log_event(api, client["id"], "touchpoint", now - 2 * DAY, channel="email")
        assert (await tick(app, now))["fired"] == 1

    async def test_completing_the_cadence_task_on_a_channel_resets_the_clock(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api, tier="mid")
        cadence_id = await make_cadence(app, workspace, now - 40 * DAY)
        await tick(app, now - 10 * DAY)  # the step fires, the clock pauses
        task_id = await cadence_task(app, workspace, client["id"], cadence_id, now - 10 * DAY)
        called = now - 3 * DAY
        response = await api.post(
            f"/v1/tasks/{task_id}/complete",
            json={
                "outcome": "renewal on track",
                "channel": "call",
                "occurred_at": called.isoformat(),
            },
        )
        assert response.status_code == 200, response.text
        result = await tick(app, now)
        assert (result["reset"], result["fired"]) == (1, 0)
        enrolled = await enrolment(app, client["id"])
        assert (enrolled.anchor_at, enrolled.paused_at, enrolled.next_due_at) == (
            called,
            None,
            called + 30 * DAY,
        )


class TestPause:
    async def test_an_open_cadence_task_holds_the_clock_and_its_close_moves_it_on(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api, tier="mid")
        steps = [
            {"offset_days": d, "action": {"kind": "create_task", "params": {"title": f"Day {d}"}}}
            for d in (30, 37)
        ]
        cadence_id = await make_cadence(app, workspace, now - 50 * DAY, steps=steps)
        fired_at = now - 20 * DAY
        await tick(app, fired_at)
        task_id = await cadence_task(app, workspace, client["id"], cadence_id, fired_at)
        # a week later the next step would be due; the open task holds it
        held = await tick(app, now - 12 * DAY)
        assert held["fired"] == 0
        assert (await enrolment(app, client["id"])).paused_at == fired_at
        view = (await api.get(f"/v1/clients/{client['id']}/cadence")).json()
        (standing,) = view["enrollments"]
        assert (standing["paused"], standing["open_task"], view["next_touch_due_at"]) == (
            True,
            True,
            None,
        )
        response = await api.post(f"/v1/tasks/{task_id}/cancel")
        assert response.status_code == 200, response.text
        resumed_at = now - 10 * DAY
        result = await tick(app, resumed_at)
        assert result["fired"] == 0
        enrolled = await enrolment(app, client["id"])
        # the step was due 7 days after the first; the clock stood still for 10 days
        assert (enrolled.paused_at, enrolled.next_step, enrolled.next_due_at) == (
            None,
            1,
            fired_at + 7 * DAY + (resumed_at - fired_at),
        )
        assert (await tick(app, now))["fired"] == 1


class TestSequenceExits:
    async def _sequence(
        self, app: FastAPI, workspace: Workspace, client_id: str, at: datetime, **exit: Any
    ) -> uuid.UUID:
        steps = [
            {"offset_days": d, "action": {"kind": "create_task", "params": {"title": f"Day {d}"}}}
            for d in (5, 10)
        ]
        cadence_id = await make_cadence(
            app,
            workspace,
            at,
            name="Outreach",
            kind="sequence",
            tier=None,
            interval_days=None,
            steps=steps,
            exit={"on_reply": True, "on_touchpoint": True, **exit},
        )
        async with app.state.sessionmaker.begin() as session:
            await cadence_enrolment.enroll_once(
                session,
                workspace.id,
                cadence_id=cadence_id,
                client_id=uuid.UUID(client_id),
                now=at,
                source=EnrollmentSource.TRIGGER,
            )
        return cadence_id

    @pytest.mark.parametrize(
        ("event", "properties", "reason"),
        [("email_replied", {}, "replied"), ("touchpoint", {"channel": "call"}, "touchpoint")],
    )
    async def test_a_reply_or_a_touchpoint_ends_it(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        event: str,
        properties: dict[str, str],
        reason: str,
    ) -> None:
        now = moment()
        client = await create_client(api)
        await self._sequence(app, workspace, client["id"], now - 6 * DAY)
        await log_event(api, client["id"], event, now - 5 * DAY - timedelta(hours=1), **properties)
        result = await tick(app, now)
        assert (result["fired"], result["exited"]) == (0, {reason: 1})
        ended = await enrolment(app, client["id"])
        assert (ended.status, ended.exit_reason, ended.ended_at) == ("ended", reason, now)
        assert await action_runs(app) == []

    async def test_a_reply_before_the_enrolment_changes_nothing(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api)
        await log_event(api, client["id"], "email_replied", now - 7 * DAY)
        await self._sequence(app, workspace, client["id"], now - 6 * DAY)
        assert (await tick(app, now))["fired"] == 1

    async def test_the_goal_ends_it(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api, tier="enterprise")
        await self._sequence(
            app,
            workspace,
            client["id"],
            now - 6 * DAY,
            goal={"field": "tier", "op": "eq", "value": "enterprise"},
        )
        assert (await tick(app, now))["exited"] == {"goal": 1}


class TestTierReconciliation:
    async def test_the_tick_follows_tier_changes_it_was_not_told_of(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api, tier="mid")
        mid = await make_cadence(app, workspace, now - DAY)
        smb = await make_cadence(
            app, workspace, now - DAY, name="Smb", tier="smb", interval_days=90
        )
        async with app.state.sessionmaker.begin() as session:
            await session.execute(
                sa.update(Client).where(Client.id == uuid.UUID(client["id"])).values(tier="smb")
            )
        result = await tick(app, now)
        assert (result["enrolled"], result["ended"]) == (1, 1)
        async with app.state.sessionmaker() as session:
            rows = (await session.scalars(sa.select(CadenceEnrollment))).all()
        assert {(r.cadence_id, r.status, r.exit_reason) for r in rows} == {
            (mid, "ended", "tier_changed"),
            (smb, "active", None),
        }

    async def test_clients_that_stay_in_their_tiers_stay_enrolled(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        clients = [await create_client(api, tier=t) for t in ("mid", "smb", "mid", "smb")]
        await make_cadence(app, workspace, now - DAY, name="Smb", tier="smb", interval_days=90)
        await make_cadence(app, workspace, now - DAY)
        result = await tick(app, now)
        assert (result["enrolled"], result["ended"]) == (0, 0)
        for client in clients:
            assert (await enrolment(app, client["id"])).status == "active"

    async def test_a_churned_client_leaves_its_tier_cadence(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api, tier="mid")
        await make_cadence(app, workspace, now - DAY)
        async with app.state.sessionmaker.begin() as session:
            await session.execute(
                sa.update(Client)
                .where(Client.id == uuid.UUID(client["id"]))
                .values(status="churned")
            )
        assert (await tick(app, now))["ended"] == 1
        assert (await enrolment(app, client["id"])).exit_reason == "client_inactive"

    async def test_a_condition_cadence_enrols_and_releases_by_its_condition(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        vip = await create_client(api, attributes={"vip": True})
        await create_client(api, attributes={"vip": False})
        await make_cadence(
            app,
            workspace,
            now - DAY,
            tier=None,
            condition={"field": "attributes.vip", "op": "eq", "value": True},
        )
        enrolled = await enrolment(app, vip["id"])
        assert (enrolled.status, enrolled.source) == ("active", "condition")
        response = await api.patch(f"/v1/clients/{vip['id']}", json={"attributes": {"vip": False}})
        assert response.status_code == 200
        assert (await tick(app, now))["ended"] == 1
        assert (await enrolment(app, vip["id"])).exit_reason == "condition_unmet"


class TestFollowClients:
    async def test_a_tier_change_moves_the_client_at_once(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        client = await create_client(api, tier="smb")
        mid = await make_cadence(app, workspace, now - DAY)
        assert await latest_enrolment(app, client["id"]) is None
        response = await api.patch(f"/v1/clients/{client['id']}", json={"tier": "mid"})
        assert response.status_code == 200
        payload = {
            "changes": [
                {"client_id": client["id"], "name": "tier", "before": "smb", "after": "mid"}
            ]
        }
        async with app.state.sessionmaker.begin() as session:
            result = await jobs.follow_clients(
                job_run(session, workspace.id, "client.updated", payload, now)
            )
        assert result == {"clients": 1, "enrolled": 1, "ended": 0}
        enrolled = await enrolment(app, client["id"])
        assert (enrolled.cadence_id, enrolled.status, enrolled.source) == (mid, "active", "tier")


class TestIsolation:
    async def test_a_workspace_tick_touches_only_its_workspace(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        ours = await create_client(api, tier="mid")
        await make_cadence(app, workspace, now - 31 * DAY)
        other = await create_workspace(app, "Other")
        await drop_cadences(app, other.id)
        async with api_client(app, other.admin_key) as other_api:
            theirs = await create_client(other_api, tier="mid")
        await make_cadence(app, other, now - 31 * DAY)
        assert (await tick(app, now, workspace_id=other.id))["fired"] == 1
        assert [r.client_id for r in await action_runs(app)] == [uuid.UUID(theirs["id"])]
        assert (await tick(app, now))["fired"] == 1
        runs = {r.client_id: r.workspace_id for r in await action_runs(app)}
        assert runs == {uuid.UUID(theirs["id"]): other.id, uuid.UUID(ours["id"]): workspace.id}


async def _outbox_row(app: FastAPI, kind: str, at: datetime) -> uuid.UUID:
    async with app.state.sessionmaker() as session:
        await OutboxRepository(session).add([NewMessage(kind=kind, payload={})], at)
        await session.commit()
        row_id = await session.scalar(
            sa.select(OutboxMessage.id)
            .where(OutboxMessage.kind == kind)
            .order_by(OutboxMessage.created_at.desc())
        )
    assert isinstance(row_id, uuid.UUID)
    return row_id


async def _burst(settings: Settings, redis_url: str) -> None:
    worker = Worker(
        **{**worker_options(settings, redis_url), "cron_jobs": None},
        burst=True,
        handle_signals=False,
    )
    try:
        await worker.main()
    finally:
        await worker.close()


class TestTickAsAJob:
    async def test_an_arq_worker_runs_the_tick_and_the_action_opens_the_owners_task(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
    ) -> None:
        owner = await create_owner(api)
        client = await create_client(api, tier="mid", owner_id=owner["id"], name="Globex")
        cadence_id = await make_cadence(app, workspace, moment() - 31 * DAY)
        row_id = await _outbox_row(app, "cadences.tick", moment())
        job = await arq_pool.enqueue_job("cadences.tick", str(row_id), _queue_name=QUEUE_NAME)
        assert job is not None
        await _burst(settings, redis_url)
        # The burst worker's own relay may have handed the pending row over first: then this
        # delivery finds it done ("skipped") and the row itself says it succeeded.
        assert await job.result(timeout=5) in ("succeeded", "skipped")
        async with app.state.sessionmaker() as session:
            status = await session.scalar(
                sa.select(OutboxMessage.status).where(OutboxMessage.id == row_id)
            )
        assert status == JobStatus.SUCCEEDED.value
        (run,) = await action_runs(app, client["id"])
        assert run.status in ("pending", "succeeded")
        # The worker's own relay may already have run the action it wrote; if not, run it.
        async with app.state.sessionmaker() as session:
            action_row = await session.scalar(
                sa.select(OutboxMessage.id).where(OutboxMessage.kind == "actions.run")
            )
        assert action_row is not None
        job = await arq_pool.enqueue_job("actions.run", str(action_row), _queue_name=QUEUE_NAME)
        if job is not None:
            await _burst(settings, redis_url)
            assert await job.result(timeout=5) in ("succeeded", "skipped")
        (run,) = await action_runs(app, client["id"])
        assert run.status == "succeeded", (run.result, await _enrolments(app))
        async with app.state.sessionmaker() as session:
            (task,) = (await session.scalars(sa.select(Task))).all()
        assert (task.title, task.owner_id, task.cadence_id, task.cadence_step, task.source) == (
            "Touch base with Globex",
            uuid.UUID(owner["id"]),
            cadence_id,
            0,
            "cadence",
        )
        assert task.dedupe_key == f"cadence:{cadence_id}:0"
        assert run.result == {"task_id": str(task.id), "created": True, "owner_id": owner["id"]}


@pytest.fixture
async def embedded_api(embedded: FastAPI, workspace: Workspace) -> AsyncIterator[httpx.AsyncClient]:
    async with api_client(embedded, workspace.admin_key) as client:
        yield client


class TestEmbedded:
    async def test_the_tick_row_ends_in_a_task_for_the_owner(
        self,
        app: FastAPI,
        embedded: FastAPI,
        embedded_api: httpx.AsyncClient,
        workspace: Workspace,
    ) -> None:
        owner = await create_owner(embedded_api)
        client = await create_client(embedded_api, tier="mid", owner_id=owner["id"])
        await make_cadence(app, workspace, moment() - 31 * DAY)
        row_id = await _outbox_row(app, "cadences.tick", moment())

        async def task_opened() -> bool:
            async with app.state.sessionmaker() as session:
                found = await session.scalar(
                    sa.select(Task.id).where(Task.client_id == uuid.UUID(client["id"]))
                )
                return found is not None

        await wait_until(task_opened, seconds=20)
        async with app.state.sessionmaker() as session:
            row = await session.get(OutboxMessage, row_id)
        assert row is not None
        assert row.status == JobStatus.SUCCEEDED.value
        view = (await embedded_api.get(f"/v1/clients/{client['id']}/cadence")).json()
        (standing,) = view["enrollments"]
        assert (standing["paused"], standing["open_task"], standing["last_step"]) == (
            True,
            True,
            0,
        )


async def _mid_clients(api: httpx.AsyncClient, count: int) -> None:
    clients = [
        {"external_id": f"mid-{uuid.uuid4().hex[:10]}", "name": f"Mid {i}", "tier": "mid"}
        for i in range(count)
    ]
    response = await api.post("/v1/clients/batch", json={"clients": clients})
    assert response.status_code == 200, response.text


async def _statements_of_a_tick(app: FastAPI, at: datetime) -> tuple[int, dict[str, Any]]:
    counted: list[str] = []

    def count(*args: Any) -> None:
        counted.append(args[2])

    engine = app.state.engine.sync_engine
    sa.event.listen(engine, "before_cursor_execute", count)
    try:
        result = await tick(app, at)
    finally:
        sa.event.remove(engine, "before_cursor_execute", count)
    return len(counted), result


class TestSetBased:
    async def test_a_tick_costs_the_same_statements_for_three_clients_or_sixty(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        now = moment()
        await _mid_clients(api, 3)
        await make_cadence(app, workspace, now - 31 * DAY, channels=["call", "meeting"])
        few, result = await _statements_of_a_tick(app, now)
        assert result["fired"] == 3
        await drop_cadences(app, workspace.id)
        await _mid_clients(api, 57)
        await make_cadence(app, workspace, now - 31 * DAY, channels=["call", "meeting"])
        many, result = await _statements_of_a_tick(app, now)
        assert (result["enrolled"], result["fired"]) == (0, 60)
        assert many == few


class TestEnrollCadenceAction:
    async def test_a_trigger_action_enrols_the_client_once(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        from app.domain.actions import ActionSpec
        from app.services.actions import action_kinds, run_action, schedule_actions

        now = moment()
        client = await create_client(api)
        cadence_id = await make_cadence(app, workspace, now, tier=None)
        kind = action_kinds()["enroll_cadence"]
        assert kind.problems({"cadence_id": str(cadence_id)}) == []
        assert kind.problems({"cadence": "x"}) == [
            "unknown parameters: cadence",
            "`cadence_id` is required",
        ]
        spec = ActionSpec("enroll_cadence", {"cadence_id": str(cadence_id)})
        results = []
        for _ in range(2):
            async with app.state.sessionmaker.begin() as session:
                (run_id,) = await schedule_actions(
                    session, workspace.id, uuid.UUID(client["id"]), [spec], now
                )
                results.append(
                    await run_action(session, workspace.id, run_id, now, Settings(), attempt=1)
                )
        enrolled = await enrolment(app, client["id"])
        assert (enrolled.source, enrolled.cadence_id) == ("trigger", cadence_id)
        assert results == [
            {"enrollment_id": str(enrolled.id), "enrolled": True},
            {"enrollment_id": str(enrolled.id), "enrolled": False},
        ]


class TestLargeEnrolment:
    async def test_past_the_request_limit_a_tick_of_the_workspace_enrols(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(service, "ENROL_IN_REQUEST", 2)
        await _mid_clients(api, 3)
        response = await api.post(
            "/v1/cadences", json={"name": "Mid", "tier": "mid", "interval_days": 30}
        )
        assert response.status_code == 201, response.text
        cadence_id = response.json()["id"]
        url = f"/v1/cadences/{cadence_id}/enrollments"
        assert (await api.get(url)).json()["data"] == []
        async with app.state.sessionmaker() as session:
            requested = await session.scalar(
                sa.select(OutboxMessage.workspace_id).where(OutboxMessage.kind == "cadences.tick")
            )
        assert requested == workspace.id
        result = await tick(app, moment(), workspace_id=workspace.id)
        assert result["enrolled"] == 3
        assert len((await api.get(url)).json()["data"]) == 3
