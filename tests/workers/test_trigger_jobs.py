"""Triggers through the real jobs: a fact wakes `triggers.evaluate` (its own row of the fact),
the fired run's actions run as `actions.run`, each on its own; schedules tick and sweep."""

import time
import uuid
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from arq.connections import ArqRedis
from fastapi import FastAPI

from app.config import Settings
from app.db.models import ActionRun, OutboxMessage, Signal, Task, Trigger, TriggerRun
from app.db.repositories.client_views import ClientViewRepository
from app.domain.conditions import evaluate as evaluate_condition
from app.domain.conditions import parse_condition
from app.domain.jobs import JobStatus
from app.facts import SignalsOpened, SignalsResolved
from app.services.actions import (
    ActionContext,
    ActionFailed,
    add_action_kind,
    remove_action_kind,
)
from app.workers import triggers as trigger_jobs
from app.workers.execution import JobEnvironment, Outcome, execute
from app.workers.registry import default_registry
from app.workers.relay import ArqDispatcher
from tests.factories import Workspace, api_client, create_client, create_contract, create_owner
from tests.health_support import evaluate, event, ingest
from tests.workers.conftest import wait_until
from tests.workers.runs import job_run
from tests.workers.test_maintenance import _run_burst

PROBE = "probe_action"


class FlakyProbe:
    """Fails (retryably) until its attempt `succeed_on`; records each call."""

    name = PROBE
    calls: list[int]

    def __init__(self) -> None:
        self.calls = []

    def problems(self, params: Mapping[str, Any]) -> list[str]:
        return []

    async def run(self, context: ActionContext, params: Mapping[str, Any]) -> dict[str, Any]:
        self.calls.append(len(self.calls) + 1)
        if len(self.calls) < int(params.get("succeed_on", 1)):
            raise ActionFailed("the provider timed out", retryable=True, retry_after=0.0)
        return {"calls": len(self.calls)}


@pytest.fixture
def probe() -> Iterator[FlakyProbe]:
    kind = FlakyProbe()
    add_action_kind(kind)
    try:
        yield kind
    finally:
        remove_action_kind(PROBE)


async def disable_defaults(api: httpx.AsyncClient) -> None:
    """The workspace's default playbooks, switched off where a test counts runs exactly."""
    for trigger in (await api.get("/v1/triggers", params={"limit": 100})).json()["data"]:
        response = await api.patch(f"/v1/triggers/{trigger['id']}", json={"enabled": False})
        assert response.status_code == 200, response.text


async def post_trigger(api: httpx.AsyncClient, **body: Any) -> dict[str, Any]:
    document = {
        "name": "Trigger",
        "when": {"kind": "manual"},
        "actions": [{"kind": "create_task", "params": {"title": "Call {{client.name}}"}}],
        **body,
    }
    response = await api.post("/v1/triggers", json=document)
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def rows(app: FastAPI, model: Any) -> list[Any]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(sa.select(model))).all())


async def payloads(app: FastAPI, kind: str) -> list[dict[str, Any]]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(OutboxMessage.payload).where(OutboxMessage.kind == kind)
        return list((await session.scalars(stmt.order_by(OutboxMessage.created_at))).all())


async def outbox_ids(app: FastAPI, kind: str) -> list[uuid.UUID]:
    async with app.state.sessionmaker() as session:
        stmt = sa.select(OutboxMessage.id).where(OutboxMessage.kind == kind)
        return list((await session.scalars(stmt.order_by(OutboxMessage.created_at))).all())


def environment(app: FastAPI) -> JobEnvironment:
    return JobEnvironment(app.state.settings, app.state.sessionmaker, default_registry())


async def run_fact_job(app: FastAPI, workspace: Workspace, kind: str, now: datetime) -> Any:
    """`triggers.evaluate` on each row of this fact kind, as its consumer."""
    async with app.state.sessionmaker() as session:
        facts = (
            await session.execute(
                sa.select(OutboxMessage.id, OutboxMessage.payload).where(OutboxMessage.kind == kind)
            )
        ).all()
    results = []
    for fact_id, payload in facts:
        async with app.state.sessionmaker() as session:
            run = job_run(session, workspace.id, kind, payload, now)
            run = type(run)(**{**run.__dict__, "fact_id": fact_id})
            results.append(await trigger_jobs.evaluate(run))
            await session.commit()
    return results


async def handled_before_any_trigger(app: FastAPI, kind: str) -> None:
    """The facts so far (a client's creation announces its fields) were evaluated before the
    test's trigger existed, as they would have been within milliseconds of being written."""
    async with app.state.sessionmaker() as session:
        await session.execute(sa.delete(OutboxMessage).where(OutboxMessage.kind == kind))
        await session.commit()


async def run_actions(app: FastAPI) -> list[Outcome]:
    env = environment(app)
    job = env.registry.job("actions.run")
    assert job is not None
    return [
        (await execute(env, job, row_id, retry_waits_as=JobStatus.PENDING)).outcome
        for row_id in await outbox_ids(app, "actions.run")
    ]


# --- a band change, end to end through the relay, Redis and an arq worker ------------------


async def drain(app: FastAPI, settings: Settings, redis_url: str) -> None:
    """Relay passes and burst workers until no due row waits: the production pipeline."""
    env = environment(app)
    dispatcher = ArqDispatcher(redis_url)
    try:
        for _ in range(12):
            moved = await dispatcher.dispatch(env)
            await _run_burst(settings, redis_url)
            if not moved:
                return
    finally:
        await dispatcher.close()


class TestBandChangeThroughArq:
    async def test_a_move_into_at_risk_opens_the_owners_task_through_the_worker(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
    ) -> None:
        owner = await create_owner(api)
        client = await create_client(api, name="Globex", tier="mid", owner_id=owner["id"])
        trigger = await post_trigger(
            api,
            when={"kind": "health.band_changed", "to": ["at_risk"]},
            condition={"field": "tier", "op": "eq", "value": "mid"},
            actions=[
                {
                    "kind": "create_task",
                    "params": {"title": "{{client.name}} is at risk", "due_in_days": 2},
                }
            ],
        )
        # Busy three months ago, and scored then: not at risk. Scored again now (the
        # evaluation its ingestion asked for runs through the worker), with all of that
        # activity months old, it falls into at_risk.
        then = datetime.now(UTC) - timedelta(days=90)
        touchpoint = event(client["id"], "touchpoint", then - timedelta(days=1), channel="call")
        logins = [event(client["id"], "login", then - timedelta(hours=6 * i)) for i in range(40)]
        await ingest(app, workspace.id, [touchpoint, *logins], then)
        await evaluate(app, workspace.id, [client["id"]], then)
        history = (await api.get(f"/v1/clients/{client['id']}/health/history")).json()["data"]
        assert history[0]["band"] != "at_risk", history

        await drain(app, settings, redis_url)

        history = (await api.get(f"/v1/clients/{client['id']}/health/history")).json()["data"]
        assert history[0]["band"] == "at_risk", history
        params = {"trigger_id": trigger["id"], "outcome": "fired"}
        (run,) = (await api.get("/v1/trigger-runs", params=params)).json()["data"]
        assert (run["outcome"], run["fact_kind"]) == ("fired", "health.changed")
        assert run["condition_values"] == {"tier": "mid"}
        (action,) = run["actions"]
        assert (action["status"], action["attempts"]) == ("succeeded", 1), action
        (task,) = [t for t in await rows(app, Task) if t.trigger_run_id == uuid.UUID(run["id"])]
        assert task.title == "Globex is at risk"
        assert task.owner_id == uuid.UUID(owner["id"])
        assert task.dedupe_key == f"trigger:{trigger['id']}"
        assert action["result"] == {
            "task_id": str(task.id),
            "created": True,
            "owner_id": owner["id"],
        }
        jobs = (await api.get("/v1/jobs", params={"limit": 100})).json()["data"]
        assert "failed" not in {j["status"] for j in jobs}, jobs


# --- a signal, end to end in embedded mode -------------------------------------------------


class TestSignalInEmbeddedMode:
    async def test_a_failed_payment_becomes_the_owners_task_within_seconds(
        self, app: FastAPI, embedded: FastAPI, workspace: Workspace
    ) -> None:
        async with api_client(embedded, workspace.admin_key) as api:
            owner = await create_owner(api)
            client = await create_client(api, owner_id=owner["id"])
            await post_trigger(
                api,
                when={"kind": "signal.opened", "signal_kinds": ["payment_failed"]},
                actions=[{"kind": "create_task", "params": {"title": "Payment failed"}}],
            )
            started = time.monotonic()
            event = {
                "client_id": client["id"],
                "type": "payment_failed",
                "occurred_at": datetime.now(UTC).isoformat(),
            }
            assert (await api.post("/v1/events", json={"events": [event]})).status_code == 200

            async def task_exists() -> bool:
                return bool(await rows(app, Task))

            await wait_until(task_exists, seconds=10)
            elapsed = time.monotonic() - started
        (task,) = await rows(app, Task)
        (signal_run,) = await rows(app, TriggerRun)
        assert task.signal_id == signal_run.signal_id is not None
        assert elapsed < 10


# --- each action on its own ----------------------------------------------------------------


class TestActionsRunApart:
    @pytest.fixture(autouse=True)
    async def _quiet(self, api: httpx.AsyncClient) -> None:
        await disable_defaults(api)

    async def test_a_failing_action_retries_and_does_not_block_the_next_one(
        self, app: FastAPI, api: httpx.AsyncClient, probe: FlakyProbe
    ) -> None:
        client = await create_client(api, name="Initech")
        trigger = await post_trigger(
            api,
            actions=[
                {"kind": PROBE, "params": {"succeed_on": 2}},
                {"kind": "create_task", "params": {"title": "Call {{client.name}}"}},
            ],
        )
        response = await api.post(
            f"/v1/triggers/{trigger['id']}/run", json={"client_ids": [client["id"]]}
        )
        run_id = response.json()["results"][0]["trigger_run_id"]

        assert await run_actions(app) == [Outcome.RETRYING, Outcome.SUCCEEDED]
        (task,) = await rows(app, Task)
        assert task.title == "Call Initech"
        first = (await api.get(f"/v1/trigger-runs/{run_id}")).json()["actions"]
        assert [(a["status"], a["attempts"]) for a in first] == [("pending", 1), ("succeeded", 1)]
        assert first[0]["error"] == "the provider timed out"

        assert await run_actions(app) == [Outcome.SUCCEEDED, Outcome.SKIPPED]
        second = (await api.get(f"/v1/trigger-runs/{run_id}")).json()["actions"]
        assert [(a["status"], a["attempts"]) for a in second] == [
            ("succeeded", 2),
            ("succeeded", 1),
        ]
        assert second[0]["result"] == {"calls": 2}
        assert probe.calls == [1, 2]

    async def test_an_action_that_cannot_succeed_fails_for_good_with_its_reason(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        owner = await create_owner(api)
        client = await create_client(api)
        trigger = await post_trigger(
            api,
            actions=[
                {"kind": "create_task", "params": {"title": "Call", "owner_id": owner["id"]}},
                {"kind": "set_fields", "params": {"tags": {"add": ["flagged"]}}},
            ],
        )
        await api.patch(f"/v1/owners/{owner['id']}", json={"active": False})
        response = await api.post(
            f"/v1/triggers/{trigger['id']}/run", json={"client_ids": [client["id"]]}
        )
        run_id = response.json()["results"][0]["trigger_run_id"]
        assert await run_actions(app) == [Outcome.FAILED, Outcome.SUCCEEDED]
        actions = (await api.get(f"/v1/trigger-runs/{run_id}")).json()["actions"]
        assert [a["status"] for a in actions] == ["failed", "succeeded"]
        assert "owner" in (actions[0]["error"] or "")
        assert (await api.get(f"/v1/clients/{client['id']}")).json()["attributes"] == {
            "tags": ["flagged"]
        }

    async def test_a_delayed_action_waits_for_its_time(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        trigger = await post_trigger(
            api,
            actions=[{"kind": "create_task", "params": {"title": "Later"}, "delay_seconds": 3600}],
        )
        await api.post(f"/v1/triggers/{trigger['id']}/run", json={"client_ids": [client["id"]]})
        async with app.state.sessionmaker() as session:
            row = (
                await session.scalars(
                    sa.select(OutboxMessage).where(OutboxMessage.kind == "actions.run")
                )
            ).one()
        assert row.available_at - row.created_at == timedelta(hours=1)

    async def test_a_disabled_trigger_skips_its_pending_actions(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        trigger = await post_trigger(api)
        await api.post(f"/v1/triggers/{trigger['id']}/run", json={"client_ids": [client["id"]]})
        await api.patch(f"/v1/triggers/{trigger['id']}", json={"enabled": False})
        assert await run_actions(app) == [Outcome.SUCCEEDED]
        (action,) = await rows(app, ActionRun)
        assert action.status == "skipped"
        assert await rows(app, Task) == []

    async def test_a_custom_signal_is_opened_and_resolved_and_announced_as_any_signal(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        kind = "custom.vip_left"
        opener = await post_trigger(
            api,
            name="Flag",
            actions=[{"kind": "open_signal", "params": {"kind": kind, "severity": "high"}}],
        )
        closer = await post_trigger(
            api, name="Unflag", actions=[{"kind": "resolve_signal", "params": {"kind": kind}}]
        )
        body = {"client_ids": [client["id"]]}
        await api.post(f"/v1/triggers/{opener['id']}/run", json=body)
        assert await run_actions(app) == [Outcome.SUCCEEDED]
        (signal,) = await rows(app, Signal)
        assert (signal.kind, signal.severity, signal.status) == (kind, "high", "open")
        assert signal.figures == {"note": None, "trigger_id": opener["id"]}
        (opened,) = [SignalsOpened.model_validate(p) for p in await payloads(app, "signal.opened")]
        (fact,) = opened.signals
        assert (fact.signal_id, fact.client_id, fact.kind, fact.severity) == (
            signal.id,
            signal.client_id,
            kind,
            "high",
        )
        assert (fact.figures, fact.opened_at) == (signal.figures, signal.opened_at)

        await api.post(f"/v1/triggers/{closer['id']}/run", json=body)
        assert (await run_actions(app))[-1] is Outcome.SUCCEEDED
        (signal,) = await rows(app, Signal)
        assert signal.status == "resolved"
        (resolved,) = [
            SignalsResolved.model_validate(p) for p in await payloads(app, "signal.resolved")
        ]
        (fact,) = resolved.signals
        assert (fact.signal_id, fact.kind, fact.acknowledged) == (signal.id, kind, False)
        assert (fact.opened_at, fact.resolved_at) == (signal.opened_at, signal.resolved_at)
        results = [a.result for a in sorted(await rows(app, ActionRun), key=lambda a: a.kind)]
        assert results == [
            {"opened": True, "signal_id": str(signal.id)},
            {"resolved": [str(signal.id)]},
        ]


# --- facts -------------------------------------------------------------------------------


class TestFacts:
    @pytest.fixture(autouse=True)
    async def _quiet(self, api: httpx.AsyncClient) -> None:
        await disable_defaults(api)

    async def test_a_stage_change_wakes_a_client_changed_trigger(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        await handled_before_any_trigger(app, "client.updated")
        trigger = await post_trigger(api, when={"kind": "client.changed", "fields": ["stage"]})
        await api.patch(f"/v1/clients/{client['id']}", json={"tier": "mid"})
        await run_fact_job(app, workspace, "client.updated", datetime.now(UTC))
        assert await rows(app, TriggerRun) == []
        await api.patch(f"/v1/clients/{client['id']}", json={"lifecycle_stage": "adoption"})
        summaries = await run_fact_job(app, workspace, "client.updated", datetime.now(UTC))
        assert summaries[-1]["outcomes"] == {"fired": 1}
        (run,) = await rows(app, TriggerRun)
        assert run.trigger_id == uuid.UUID(trigger["id"])

    async def test_event_ingested_fires_for_its_types_only(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        one = await create_client(api)
        two = await create_client(api)
        await post_trigger(api, when={"kind": "event.ingested", "event_types": ["nps"]})
        now = datetime.now(UTC)
        events = [
            {"client_id": one["id"], "type": "nps", "occurred_at": now.isoformat(), "value": 9},
            {"client_id": two["id"], "type": "login", "occurred_at": now.isoformat()},
        ]
        assert (await api.post("/v1/events", json={"events": events})).status_code == 200
        assert len(await outbox_ids(app, "event.ingested")) == 1  # one fact per batch
        await run_fact_job(app, workspace, "event.ingested", now)
        (run,) = await rows(app, TriggerRun)
        assert run.client_id == uuid.UUID(one["id"])

    async def test_a_burst_of_facts_fires_once(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        client = await create_client(api)
        await handled_before_any_trigger(app, "client.updated")
        await post_trigger(
            api,
            when={"kind": "client.changed"},
            control={"reentry": "every_time", "debounce_seconds": 60},
        )
        for stage in ("adoption", "renewal", "adoption"):
            await api.patch(f"/v1/clients/{client['id']}", json={"lifecycle_stage": stage})
        await run_fact_job(app, workspace, "client.updated", datetime.now(UTC))
        outcomes = sorted(r.outcome for r in await rows(app, TriggerRun))
        assert outcomes == ["debounced", "debounced", "fired"]
        assert len(await outbox_ids(app, "actions.run")) == 1

    async def test_a_fact_of_one_workspace_never_wakes_anothers_trigger(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        from tests.factories import create_workspace

        other = await create_workspace(app, "Other CS")
        async with api_client(app, other.admin_key) as other_api:
            await post_trigger(other_api, when={"kind": "client.changed"})
        client = await create_client(api)
        await api.patch(f"/v1/clients/{client['id']}", json={"lifecycle_stage": "adoption"})
        await run_fact_job(app, workspace, "client.updated", datetime.now(UTC))
        await run_fact_job(app, other, "client.updated", datetime.now(UTC))  # names no client of it
        assert await rows(app, TriggerRun) == []


# --- schedules ---------------------------------------------------------------------------


async def tick(app: FastAPI, now: datetime) -> dict[str, Any]:
    async with app.state.sessionmaker() as session:
        result = await trigger_jobs.tick(job_run(session, None, "triggers.tick", {}, now))
        await session.commit()
    return result


async def evaluate_requests(app: FastAPI, now: datetime) -> list[dict[str, Any]]:
    """Runs the evaluations the ticks requested and not yet run, each once."""
    async with app.state.sessionmaker() as session:
        requests = (
            await session.execute(
                sa.select(OutboxMessage.id, OutboxMessage.workspace_id, OutboxMessage.payload)
                .where(
                    OutboxMessage.kind == "triggers.evaluate",
                    OutboxMessage.status == JobStatus.PENDING.value,
                )
                .order_by(OutboxMessage.created_at)
            )
        ).all()
    results = []
    for row_id, workspace_id, payload in requests:
        async with app.state.sessionmaker() as session:
            run = job_run(session, workspace_id, "triggers.evaluate", payload, now)
            results.append(await trigger_jobs.evaluate(run))
            await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.id == row_id)
                .values(status=JobStatus.SUCCEEDED.value)
            )
            await session.commit()
    return results


class TestSchedules:
    @pytest.fixture(autouse=True)
    async def _quiet(self, api: httpx.AsyncClient) -> None:
        await disable_defaults(api)

    async def test_a_due_schedule_sweeps_the_portfolio_once_per_moment(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        mids = [await create_client(api, tier="mid") for _ in range(5)]
        await create_client(api, tier="smb")
        trigger = await post_trigger(
            api,
            when={"kind": "schedule", "cron": "0 9 * * *"},
            condition={"field": "tier", "op": "eq", "value": "mid"},
        )
        due = datetime.fromisoformat(trigger["next_due_at"])
        assert await tick(app, due - timedelta(minutes=1)) == {"requested": 0}
        assert await tick(app, due + timedelta(seconds=5)) == {"requested": 1}
        assert await tick(app, due + timedelta(seconds=65)) == {"requested": 0}
        (result,) = await evaluate_requests(app, due + timedelta(seconds=5))
        assert result == {"triggers": 1, "outcomes": {"fired": 5}}
        runs = await rows(app, TriggerRun)
        assert sorted(str(r.client_id) for r in runs) == sorted(c["id"] for c in mids)
        assert {r.fact_kind for r in runs} == {"schedule"}
        assert all(r.condition_values == {"tier": "mid"} for r in runs)
        (stored,) = [t for t in await rows(app, Trigger) if str(t.id) == trigger["id"]]
        assert stored.next_due_at == due + timedelta(days=1)

    async def test_the_next_sweep_records_no_one_still_cooling_down(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        for _ in range(3):
            await create_client(api, tier="mid")
        await post_trigger(
            api,
            when={"kind": "schedule", "cron": "*/5 * * * *"},
            control={"cooldown_hours": 24, "holdout_percent": 0},
        )
        now = datetime.now(UTC) + timedelta(minutes=6)
        await tick(app, now)
        await evaluate_requests(app, now)
        await tick(app, now + timedelta(minutes=5))
        results = await evaluate_requests(app, now + timedelta(minutes=5))
        assert results[-1]["outcomes"] == {}  # left out by the sweep's statement itself
        assert len(await rows(app, TriggerRun)) == 3
        await tick(app, now + timedelta(days=1, minutes=5))
        results = await evaluate_requests(app, now + timedelta(days=1, minutes=5))
        assert results[-1]["outcomes"] == {"fired": 3}  # the cooldown is over

    async def test_the_values_recorded_are_those_a_whole_view_of_the_client_gives(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace
    ) -> None:
        """The sweep reads the values from the rows of its own statement, and loads only the
        parts the condition reads: the runs must record what Python reads on a whole view."""
        owner = await create_owner(api)
        clients = [
            await create_client(api, tier="mid", owner_id=owner["id"], attributes={"seats": i})
            for i in range(4)
        ]
        await create_contract(api, clients[0]["id"])
        now = datetime.now(UTC) + timedelta(minutes=2)
        await evaluate(app, workspace.id, [c["id"] for c in clients], now)
        document = {
            "all": [
                {"field": "tier", "op": "eq", "value": "mid"},
                {"field": "owner_id", "op": "exists"},
                {"field": "attributes.seats", "op": "gte", "value": 0},
                {"field": "health.score", "op": "gte", "value": 0},
                {"field": "health.band", "op": "exists"},
                {"field": "days_since_touchpoint", "op": "not_exists"},
                {"field": "tasks.open_count", "op": "eq", "value": 0},
                {"field": "mrr", "op": "gte", "value": 0, "currency": "USD"},
            ]
        }
        await post_trigger(api, when={"kind": "schedule", "cron": "* * * * *"}, condition=document)
        await tick(app, now)
        (result,) = await evaluate_requests(app, now)
        assert result["outcomes"] == {"fired": 4}
        runs = await rows(app, TriggerRun)
        async with app.state.sessionmaker() as session:
            views = await ClientViewRepository(session).load(
                workspace.id, [r.client_id for r in runs], now
            )
        condition = parse_condition(document)
        for run in runs:
            assert (
                run.condition_values == evaluate_condition(condition, views[run.client_id]).values
            )
        mrr = {r.condition_values["mrr(currency=USD)"] for r in runs}
        assert len(mrr) == 2  # one client has a contract, the others none
        assert "0" in mrr

    async def test_a_holdout_is_recorded_without_actions(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        for _ in range(40):
            await create_client(api)
        await post_trigger(
            api, when={"kind": "schedule", "cron": "* * * * *"}, control={"holdout_percent": 50}
        )
        now = datetime.now(UTC) + timedelta(minutes=2)
        await tick(app, now)
        await evaluate_requests(app, now)
        runs = await rows(app, TriggerRun)
        held = [r for r in runs if r.holdout]
        assert 0 < len(held) < 40
        assert {r.outcome for r in held} == {"held_out"}
        actions = await rows(app, ActionRun)
        assert {a.trigger_run_id for a in actions} == {r.id for r in runs if not r.holdout}

    async def test_a_disabled_schedule_is_not_requested(
        self, app: FastAPI, api: httpx.AsyncClient
    ) -> None:
        trigger = await post_trigger(api, when={"kind": "schedule", "cron": "* * * * *"})
        await api.patch(f"/v1/triggers/{trigger['id']}", json={"enabled": False})
        assert await tick(app, datetime.now(UTC) + timedelta(minutes=2)) == {"requested": 0}


def test_the_registry_runs_triggers_for_their_facts() -> None:
    registry = default_registry()
    for kind in ("health.changed", "signal.opened", "client.updated", "event.ingested"):
        assert "triggers.evaluate" in [job.name for job in registry.consumers(kind)]
    assert registry.job("actions.run") is not None
    assert "triggers.tick" in {s.job.name for s in registry.schedules}
