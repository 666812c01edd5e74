"""CRM sync through the real jobs on Redis, against the fake HubSpot and Salesforce over real
HTTP: the standing push of health changes (batched, debounced, through an outage), task
mirroring with completion read back, and the paged, resumable, idempotent pull."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from arq.connections import ArqRedis
from fastapi import FastAPI

from app.config import Settings
from app.db.models import (
    CrmLink,
    HealthSnapshot,
    OutboxMessage,
    Scorecard,
)
from app.db.repositories.crm import CrmLinkRepository
from app.db.repositories.outbox import NewMessage, OutboxRepository
from app.domain.crm import LinkObject
from app.facts import HealthChange, HealthChanged
from app.services.outbox import emit
from tests.factories import Workspace, create_client, create_owner
from tests.fakes.hubspot import FakeHubSpot, running_hubspot
from tests.workers.test_trigger_jobs import drain

Json = dict[str, Any]
COUNTED = (
    "owners_matched",
    "owners_created",
    "companies_created",
    "companies_updated",
    "contacts_created",
    "contacts_unlinked",
)
FIELDS = {"score": "cs_score", "band": "cs_band", "last_touchpoint_at": "cs_last_touch"}


@pytest.fixture
def settings(default_settings: Settings) -> Settings:
    return default_settings.model_copy(update={"allow_loopback_urls": True})


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with running_hubspot() as fake:
        yield fake


async def connect_hubspot(api: httpx.AsyncClient, fake: FakeHubSpot, **push: Any) -> Json:
    options = {"push": {"debounce_seconds": 0, "fields": FIELDS, **push}}
    response = await api.post(
        "/v1/integrations",
        json={
            "kind": "hubspot",
            "name": "HubSpot",
            "credentials": {"access_token": fake.token},
            "base_url": fake.base_url,
            "options": options,
        },
    )
    assert response.status_code == 201, response.text
    made: Json = response.json()
    return made


async def link(
    app: FastAPI,
    workspace: Workspace,
    integration: Json,
    obj: LinkObject,
    pairs: list[tuple[str, str]],
) -> None:
    async with app.state.sessionmaker() as session:
        links = CrmLinkRepository(session)
        for local_id, record_id in pairs:
            await links.link(
                workspace.id,
                uuid.UUID(integration["id"]),
                obj,
                uuid.UUID(local_id),
                record_id,
                datetime.now(UTC),
            )
        await session.commit()


async def score(app: FastAPI, workspace: Workspace, scores: dict[str, tuple[float, str]]) -> None:
    """Stores each client's new latest score and announces it, as an evaluation does."""
    now = datetime.now(UTC)
    async with app.state.sessionmaker() as session:
        scorecard = await session.scalar(
            sa.select(Scorecard).where(Scorecard.workspace_id == workspace.id)
        )
        assert scorecard is not None
        ids = [uuid.UUID(c) for c in scores]
        await session.execute(
            sa.update(HealthSnapshot).where(HealthSnapshot.client_id.in_(ids)).values(latest=False)
        )
        changes = []
        for client_id, (value, band) in scores.items():
            session.add(
                HealthSnapshot(
                    workspace_id=workspace.id,
                    client_id=uuid.UUID(client_id),
                    scorecard_id=scorecard.id,
                    scorecard_version=1,
                    computed_at=now,
                    score=value,
                    band=band,
                    groups={},
                    measures=[],
                    source="test",
                    latest=True,
                )
            )
            changes.append(
                HealthChange(
                    client_id=uuid.UUID(client_id),
                    score=value,
                    band=band,
                    previous_score=None,
                    previous_band=None,
                    scorecard_id=scorecard.id,
                    scorecard_version=1,
                    computed_at=now,
                )
            )
        await emit(session, HealthChanged.split(changes), workspace_id=workspace.id, now=now)
        await session.commit()


async def linked_clients(
    app: FastAPI,
    settings: Settings,
    redis_url: str,
    api: httpx.AsyncClient,
    workspace: Workspace,
    fake: FakeHubSpot,
    integration: Json,
    count: int,
) -> list[tuple[str, str]]:
    """Clients scored once by their creation's evaluation (settled first), then linked."""
    pairs = []
    for n in range(count):
        client = await create_client(api, name=f"Client {n}")
        pairs.append((client["id"], fake.add_company(f"Client {n}")))
    await drain(app, settings, redis_url)
    await link(app, workspace, integration, LinkObject.CLIENT, pairs)
    return pairs


async def make_due(app: FastAPI, kind: str) -> None:
    """Time passes: the job's retry is due now (arq's deferred copy is gone with the flush)."""
    async with app.state.sessionmaker() as session:
        await session.execute(
            sa.update(OutboxMessage)
            .where(OutboxMessage.kind == kind, OutboxMessage.status.in_(["pending", "enqueued"]))
            .values(status="pending", available_at=datetime.now(UTC))
        )
        await session.commit()


async def pending_links(app: FastAPI) -> int:
    async with app.state.sessionmaker() as session:
        return int(
            await session.scalar(
                sa.select(sa.func.count()).where(CrmLink.pending_since.is_not(None))
            )
            or 0
        )


class TestStandingPush:
    async def test_a_band_change_reaches_the_configured_fields_in_one_batch(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
        hubspot: FakeHubSpot,
    ) -> None:
        integration = await connect_hubspot(api, hubspot)
        ((client_id, company_id),) = await linked_clients(
            app, settings, redis_url, api, workspace, hubspot, integration, 1
        )
        unlinked = await create_client(api, name="Not in the CRM")

        await score(app, workspace, {client_id: (42.4, "at_risk"), unlinked["id"]: (50, "watch")})
        await drain(app, settings, redis_url)

        (batch,) = hubspot.state.batch_updates
        assert batch == [
            {
                "id": company_id,
                "properties": {"cs_score": "42", "cs_band": "at_risk", "cs_last_touch": ""},
            }
        ]
        assert hubspot.company(company_id)["cs_band"] == "at_risk"
        assert await pending_links(app) == 0

        # Within the threshold of what was pushed: nothing goes out; past it, or into
        # another band, it does.
        await score(app, workspace, {client_id: (45.0, "at_risk")})
        await drain(app, settings, redis_url)
        assert len(hubspot.state.batch_updates) == 1
        await score(app, workspace, {client_id: (47.5, "at_risk")})
        await drain(app, settings, redis_url)
        assert [b[0]["properties"]["cs_score"] for b in hubspot.state.batch_updates] == ["42", "48"]
        calls = (await api.get(f"/v1/integrations/{integration['id']}/calls")).json()["data"]
        assert {call["operation"] for call in calls} == {"update_companies"}

    async def test_250_changed_clients_go_out_in_three_batch_calls(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
        hubspot: FakeHubSpot,
    ) -> None:
        integration = await connect_hubspot(api, hubspot)
        pairs = await linked_clients(
            app, settings, redis_url, api, workspace, hubspot, integration, 250
        )

        await score(app, workspace, {client_id: (30.0, "at_risk") for client_id, _ in pairs})
        await drain(app, settings, redis_url)
        await drain(app, settings, redis_url)  # the default playbooks' tasks share the worker

        sizes = sorted(len(batch) for batch in hubspot.state.batch_updates)
        assert sizes == [50, 100, 100]
        sent = [item["id"] for batch in hubspot.state.batch_updates for item in batch]
        assert sorted(sent) == sorted(company for _, company in pairs)
        assert await pending_links(app) == 0

    async def test_an_outage_loses_nothing_and_each_update_goes_out_once(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
        hubspot: FakeHubSpot,
    ) -> None:
        integration = await connect_hubspot(api, hubspot)
        pairs = await linked_clients(
            app, settings, redis_url, api, workspace, hubspot, integration, 120
        )
        hubspot.faults.fail_next(6, 503)  # two tries of the job, three calls each, fail

        await score(app, workspace, {client_id: (20.0, "at_risk") for client_id, _ in pairs})
        await drain(app, settings, redis_url)

        sent = [item["id"] for batch in hubspot.state.batch_updates for item in batch]
        assert sorted(sent) == sorted(company for _, company in pairs)  # each once
        assert await pending_links(app) == 0
        async with app.state.sessionmaker() as session:
            attempts = await session.scalar(
                sa.select(OutboxMessage.attempts).where(OutboxMessage.kind == "crm.push")
            )
        assert attempts is not None
        assert attempts > 1
        calls = (await api.get(f"/v1/integrations/{integration['id']}/calls")).json()["data"]
        statuses = [call["status"] for call in calls]
        assert 503 in statuses
        assert statuses.count(200) == 2

    async def test_a_crm_update_action_pushes_now_with_its_properties(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
        hubspot: FakeHubSpot,
    ) -> None:
        integration = await connect_hubspot(api, hubspot, score_threshold=100)
        ((client_id, company_id),) = await linked_clients(
            app, settings, redis_url, api, workspace, hubspot, integration, 1
        )
        await score(app, workspace, {client_id: (80.0, "healthy")})
        await drain(app, settings, redis_url)
        from app.services.actions import action_kinds

        kind = action_kinds()["crm_update"]
        assert kind.problems({"properties": {"bad name": 1}})
        assert kind.problems({"integration_id": integration["id"], "properties": {"x": "y"}}) == []
        from app.domain.actions import ActionSpec
        from app.services.actions import schedule_actions

        async with app.state.sessionmaker() as session:
            await schedule_actions(
                session,
                workspace.id,
                uuid.UUID(client_id),
                [
                    ActionSpec(
                        "crm_update", {"properties": {"lifecyclestage": "customer", "vip": True}}, 0
                    )
                ],
                datetime.now(UTC),
            )
            await session.commit()
        await drain(app, settings, redis_url)

        last = hubspot.state.batch_updates[-1]
        assert last == [
            {
                "id": company_id,
                "properties": {
                    "cs_score": "80",
                    "cs_band": "healthy",
                    "cs_last_touch": "",
                    "lifecyclestage": "customer",
                    "vip": "true",
                },
            }
        ]


class TestTaskMirroring:
    async def test_a_task_is_mirrored_on_its_company_and_its_crm_completion_read_back(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
        hubspot: FakeHubSpot,
    ) -> None:
        integration = await connect_hubspot(api, hubspot)
        owner = await create_owner(api, email="dana@acme.example")
        hubspot_owner = hubspot.add_owner("dana@acme.example", "Dana")
        await link(app, workspace, integration, LinkObject.OWNER, [(owner["id"], hubspot_owner)])
        client = await create_client(api, name="Globex", owner_id=owner["id"])
        company = hubspot.add_company("Globex")
        await link(app, workspace, integration, LinkObject.CLIENT, [(client["id"], company)])
        response = await api.post(
            "/v1/tasks",
            json={"client_id": client["id"], "title": "Call Globex", "priority": "high"},
        )
        assert response.status_code == 201, response.text
        task = response.json()

        await drain(app, settings, redis_url)

        (mirrored,) = hubspot.state.tasks.values()
        assert mirrored.company_ids == [company]
        assert mirrored.properties["hs_task_subject"] == "Call Globex"
        assert mirrored.properties["hubspot_owner_id"] == hubspot_owner
        assert mirrored.properties["hs_task_priority"] == "HIGH"

        await request_read(app, workspace, integration)
        await drain(app, settings, redis_url)
        assert (await api.get(f"/v1/tasks/{task['id']}")).json()["status"] == "open"

        hubspot.complete_task(mirrored.id)
        await request_read(app, workspace, integration)
        await drain(app, settings, redis_url)

        done = (await api.get(f"/v1/tasks/{task['id']}")).json()
        assert (done["status"], done["outcome"]) == ("done", "Completed in HubSpot")
        async with app.state.sessionmaker() as session:
            closed = await session.scalar(
                sa.select(CrmLink.closed_at).where(CrmLink.object == "task")
            )
        assert closed is not None
        assert len(hubspot.state.tasks) == 1  # mirrored once


async def request_read(app: FastAPI, workspace: Workspace, integration: Json) -> None:
    async with app.state.sessionmaker() as session:
        await OutboxRepository(session).add(
            [
                NewMessage(
                    kind="crm.read_tasks",
                    payload={"integration_id": integration["id"]},
                    workspace_id=workspace.id,
                )
            ],
            datetime.now(UTC),
        )
        await session.commit()


async def drain_until(app: FastAPI, settings: Settings, redis_url: str, done: Any) -> None:
    from app.workers.relay import ArqDispatcher
    from tests.workers.test_maintenance import _run_burst
    from tests.workers.test_trigger_jobs import environment

    dispatcher = ArqDispatcher(redis_url)
    try:
        for _ in range(12):
            if done():
                return
            await dispatcher.dispatch(environment(app))
            await _run_burst(settings, redis_url)
    finally:
        await dispatcher.close()


async def count(app: FastAPI, model: Any) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)
