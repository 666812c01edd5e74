"""`send_email` through the real jobs: the action writes the email, `emails.send` sends it
through the fake SendGrid over real HTTP, on real Redis with arq burst workers."""

import asyncio
import uuid
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from arq.worker import Worker
from fastapi import FastAPI

from app.config import Settings
from app.db.models import Email, Integration, OutboxMessage, Task
from app.domain.emails import parse_params
from app.domain.jobs import RetryPolicy
from app.integrations.credentials import cipher_for
from app.services.emails import EmailCause, compose
from app.workers.execution import JobEnvironment
from app.workers.job import Registry
from app.workers.registry import default_registry
from app.workers.relay import ArqDispatcher
from app.workers.settings import worker_options
from tests.factories import Workspace, create_client, create_contact, create_owner
from tests.fakes.sendgrid import API_KEY, FakeSendGrid
from tests.workers.email_support import create_template
from tests.workers.test_trigger_jobs import disable_defaults, post_trigger

SENDER = "success@tenure.example"


@pytest.fixture
def fake() -> Iterator[FakeSendGrid]:
    with FakeSendGrid() as served:
        yield served


@pytest.fixture
def loopback_settings(settings: Settings) -> Settings:
    """The worker reaches the fake on 127.0.0.1, as `TENURE_ALLOW_LOOPBACK_URLS` allows."""
    return settings.model_copy(update={"allow_loopback_urls": True})


def registry_with(retry: RetryPolicy | None = None) -> Registry:
    """The real jobs; the send job's retries shortened where a test waits for them."""
    registry = default_registry()
    if retry is None:
        return registry
    jobs = [
        replace(j, retry=retry) if j.name == "emails.send" else j for j in registry.jobs.values()
    ]
    return Registry(jobs, registry.schedules)


async def drain(
    app: FastAPI, settings: Settings, redis_url: str, registry: Registry, rounds: int = 12
) -> None:
    """Relay passes and burst workers until no due row waits: the production pipeline."""
    env = JobEnvironment(settings, app.state.sessionmaker, registry)
    dispatcher = ArqDispatcher(redis_url)
    try:
        for _ in range(rounds):
            moved = await dispatcher.dispatch(env)
            worker = Worker(
                **{**worker_options(settings, redis_url, registry), "cron_jobs": None},
                burst=True,
                handle_signals=False,
            )
            try:
                await worker.main()
            finally:
                await worker.close()
            if not moved:
                return
    finally:
        await dispatcher.close()


async def add_sendgrid(
    app: FastAPI, settings: Settings, workspace: Workspace, base_url: str
) -> None:
    async with app.state.sessionmaker() as session:
        session.add(
            Integration(
                workspace_id=workspace.id,
                kind="sendgrid",
                name="Main",
                base_url=base_url,
                credentials_encrypted=cipher_for(settings).encrypt({"api_key": API_KEY}),
                credential_names=["api_key"],
                status="active",
                options={"from_email": SENDER, "from_name": "Tenure"},
            )
        )
        await session.commit()


async def emails(app: FastAPI) -> list[Email]:
    async with app.state.sessionmaker() as session:
        return list((await session.scalars(sa.select(Email).order_by(Email.created_at))).all())


@pytest.fixture
async def world(
    app: FastAPI,
    api: httpx.AsyncClient,
    workspace: Workspace,
    loopback_settings: Settings,
    fake: FakeSendGrid,
) -> dict[str, Any]:
    await disable_defaults(api)
    await add_sendgrid(app, loopback_settings, workspace, fake.base_url)
    owner = await create_owner(api, name="Ada Lovelace", email="ada@tenure.example")
    template = await create_template(
        app,
        api,
        workspace,
        subject="Checking in on {{ client.name }}",
        text="Hello from Ada: how is {{ client.name }} doing on the {{ client.tier }} plan?",
    )
    return {"owner": owner, "template": template}


async def client_with_contact(
    api: httpx.AsyncClient, owner: dict[str, Any], name: str, email: str, **client: Any
) -> dict[str, Any]:
    created = await create_client(api, name=name, tier="mid", owner_id=owner["id"], **client)
    await create_contact(api, created["id"], name="Dana Scully", email=email, is_primary=True)
    return created


async def fire(api: httpx.AsyncClient, client_ids: list[str], **params: Any) -> dict[str, Any]:
    trigger = await post_trigger(api, actions=[{"kind": "send_email", "params": params}])
    response = await api.post(f"/v1/triggers/{trigger['id']}/run", json={"client_ids": client_ids})
    assert response.status_code == 200, response.text
    return trigger


class TestSendEmail:
    async def test_the_personalized_email_reaches_sendgrid_and_the_timeline(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        world: dict[str, Any],
        fake: FakeSendGrid,
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        client = await client_with_contact(api, world["owner"], "Globex", "Dana@Globex.example")
        await fire(api, [client["id"]], template_id=world["template"])

        await drain(app, loopback_settings, redis_url, registry_with())

        (email,) = await emails(app)
        (message,) = fake.messages
        assert email.status == "sent"
        assert email.provider_message_id == message.message_id
        assert email.attempts == 1
        assert email.sent_at is not None
        body = message.body
        assert body["subject"] == "Checking in on Globex"
        assert body["content"][0]["value"] == (
            "Hello from Ada: how is Globex doing on the mid plan?"
        )
        personalization = body["personalizations"][0]
        assert personalization["to"] == [{"email": "dana@globex.example", "name": "Dana Scully"}]
        assert personalization["custom_args"]["tenure_email_id"] == str(email.id)
        assert personalization["custom_args"]["tenure_client_id"] == client["id"]
        assert body["from"] == {"email": SENDER, "name": "Ada Lovelace"}
        assert body["reply_to"] == {"email": "ada@tenure.example"}
        timeline = (await api.get(f"/v1/clients/{client['id']}/events")).json()["data"]
        sent = [e for e in timeline if e["type"] == "email_sent"]
        assert len(sent) == 1
        assert sent[0]["properties"]["message_id"] == message.message_id
        assert sent[0]["external_id"] == f"email:{email.id}"
        read = (await api.get(f"/v1/emails/{email.id}")).json()
        assert (read["status"], read["provider_message_id"]) == ("sent", message.message_id)

    async def test_a_rerun_of_the_send_job_does_not_send_again(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        world: dict[str, Any],
        fake: FakeSendGrid,
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        client = await client_with_contact(api, world["owner"], "Initech", "p@initech.example")
        await fire(api, [client["id"]], template_id=world["template"])
        await drain(app, loopback_settings, redis_url, registry_with())
        async with app.state.sessionmaker() as session:  # the row delivered again
            await session.execute(
                sa.update(OutboxMessage)
                .where(OutboxMessage.kind == "emails.send")
                .values(status="pending", finished_at=None)
            )
            await session.commit()
        await drain(app, loopback_settings, redis_url, registry_with())
        assert len(fake.messages) == 1
        (email,) = await emails(app)
        assert (email.status, email.attempts) == ("sent", 1)

    async def test_review_mode_opens_a_task_and_approval_sends_it(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        world: dict[str, Any],
        fake: FakeSendGrid,
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        client = await client_with_contact(api, world["owner"], "Hooli", "g@hooli.example")
        await fire(api, [client["id"]], template_id=world["template"], review=True)
        await drain(app, loopback_settings, redis_url, registry_with())

        (draft,) = await emails(app)
        assert draft.status == "draft"
        assert fake.messages == []
        async with app.state.sessionmaker() as session:
            task = await session.get(Task, draft.task_id)
        assert task is not None
        assert (task.owner_id, task.dedupe_key) == (
            uuid.UUID(world["owner"]["id"]),
            f"email:{draft.id}",
        )
        assert task.body is not None
        assert f"/v1/emails/{draft.id}/approve" in task.body
        assert "how is Hooli doing" in task.body

        etag = (await api.get(f"/v1/emails/{draft.id}")).headers["ETag"]
        approved = await api.post(f"/v1/emails/{draft.id}/approve", headers={"If-Match": etag})
        assert approved.status_code == 200, approved.text
        assert approved.json()["status"] == "queued"
        again = await api.post(f"/v1/emails/{draft.id}/approve")
        assert again.status_code == 409
        await drain(app, loopback_settings, redis_url, registry_with())

        (email,) = await emails(app)
        assert email.status == "sent"
        assert len(fake.messages) == 1
        assert (await api.get(f"/v1/tasks/{task.id}")).json()["status"] == "done"

    async def test_a_discarded_draft_is_never_sent_and_its_task_is_cancelled(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        world: dict[str, Any],
        fake: FakeSendGrid,
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        client = await client_with_contact(api, world["owner"], "Umbrella", "a@umbrella.example")
        await fire(api, [client["id"]], template_id=world["template"], review=True)
        await drain(app, loopback_settings, redis_url, registry_with())
        (draft,) = await emails(app)
        response = await api.post(f"/v1/emails/{draft.id}/discard")
        assert response.json()["status"] == "discarded"
        await drain(app, loopback_settings, redis_url, registry_with())
        assert fake.messages == []
        assert (await api.get(f"/v1/tasks/{draft.task_id}")).json()["status"] == "cancelled"

    async def test_the_cap_and_the_suppression_list_suppress_with_their_reason(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        world: dict[str, Any],
        fake: FakeSendGrid,
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        settings = await api.patch("/v1/email-settings", json={"cap_count": 1, "cap_days": 30})
        assert settings.status_code == 200, settings.text
        shared = "shared@partner.example"  # one person is the contact of two clients
        first = await client_with_contact(api, world["owner"], "A Corp", shared)
        second = await client_with_contact(api, world["owner"], "B Corp", shared.upper())
        listed = await client_with_contact(api, world["owner"], "C Corp", "gone@c.example")
        entry = await api.post(
            "/v1/email-suppressions", json={"email": "Gone@C.example", "reason": "bounce"}
        )
        assert entry.status_code == 201, entry.text
        await fire(api, [first["id"], second["id"], listed["id"]], template_id=world["template"])
        await drain(app, loopback_settings, redis_url, registry_with())

        by_client = {str(e.client_id): e for e in await emails(app)}
        statuses = sorted(by_client[c["id"]].status for c in (first, second))
        assert statuses == ["sent", "suppressed"]
        capped = next(
            e for e in by_client.values() if e.status == "suppressed" and e.to_email == shared
        )
        assert capped.status_reason is not None
        assert "per-contact cap" in capped.status_reason
        assert by_client[listed["id"]].status == "suppressed"
        assert by_client[listed["id"]].status_reason == (
            "the address is on the suppression list (bounce)"
        )
        assert [m.body["personalizations"][0]["to"][0]["email"] for m in fake.messages] == [shared]

    async def test_a_churned_client_is_emailed_only_when_the_action_allows_it(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        world: dict[str, Any],
        fake: FakeSendGrid,
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        client = await client_with_contact(api, world["owner"], "Gone Inc", "x@gone.example")
        churn = await api.post(f"/v1/clients/{client['id']}/churn", json={"reason": "budget"})
        assert churn.status_code == 200, churn.text
        await fire(api, [client["id"]], template_id=world["template"])
        await fire(api, [client["id"]], template_id=world["template"], allow_churned=True)
        await drain(app, loopback_settings, redis_url, registry_with())
        assert sorted(e.status for e in await emails(app)) == ["sent", "suppressed"]
        assert len(fake.messages) == 1

    async def test_no_recipient_fails_the_action_with_its_reason(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        world: dict[str, Any],
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        client = await create_client(api, name="Nobody Ltd")
        trigger = await fire(api, [client["id"]], template_id=world["template"])
        await drain(app, loopback_settings, redis_url, registry_with())
        (run,) = (await api.get("/v1/trigger-runs", params={"trigger_id": trigger["id"]})).json()[
            "data"
        ]
        (action,) = run["actions"]
        assert action["status"] == "failed"
        assert action["error"] == "the client has no primary contact"
        assert await emails(app) == []


class TestProviderOutage:
    async def test_an_outage_loses_nothing_and_sends_each_email_once(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        world: dict[str, Any],
        fake: FakeSendGrid,
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        clients = [
            await client_with_contact(api, world["owner"], f"Client {i}", f"p{i}@c{i}.example")
            for i in range(6)
        ]
        fake.faults.down_for(4.0)
        await fire(api, [c["id"] for c in clients], template_id=world["template"])
        registry = registry_with(RetryPolicy(max_attempts=50, base_seconds=0.4, cap_seconds=1.0))

        for _ in range(60):
            await drain(app, loopback_settings, redis_url, registry, rounds=2)
            if all(e.status == "sent" for e in await emails(app)) and len(await emails(app)) == 6:
                break
            await asyncio.sleep(0.3)

        stored = await emails(app)
        assert sorted(e.status for e in stored) == ["sent"] * 6
        assert max(e.attempts for e in stored) > 1  # the outage was felt
        received = [
            m.body["personalizations"][0]["custom_args"]["tenure_email_id"] for m in fake.messages
        ]
        assert sorted(received) == sorted(str(e.id) for e in stored)  # each exactly once
        async with app.state.sessionmaker() as session:
            failed_calls = await session.scalar(
                sa.text("SELECT count(*) FROM integration_calls WHERE status = 503")
            )
        assert failed_calls
        assert failed_calls >= 6


async def write_emails(
    app: FastAPI, workspace: Workspace, template: str, clients: list[str]
) -> dict[str, Email]:
    """Queued emails written as the action writes them, by client id."""
    params, problems = parse_params({"template_id": template})
    assert params is not None, problems
    written: dict[str, Email] = {}
    async with app.state.sessionmaker() as session:
        for client_id in clients:
            email, _ = await compose(
                session, workspace.id, uuid.UUID(client_id), params, EmailCause(), datetime.now(UTC)
            )
            written[client_id] = email
        await session.commit()
    return written


async def defer_send_job(app: FastAPI, email_id: uuid.UUID, until: datetime) -> None:
    async with app.state.sessionmaker() as session:
        rows = (
            await session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.kind == "emails.send")
            )
        ).all()
        (row,) = [r for r in rows if r.payload.get("email_id") == str(email_id)]
        row.available_at = until
        await session.commit()


async def sending_runs(app: FastAPI) -> int:
    """Runs that sent something: each logs its `email_sent` events in one ingestion."""
    async with app.state.sessionmaker() as session:
        rows = (
            await session.scalars(
                sa.select(OutboxMessage).where(OutboxMessage.kind == "event.ingested")
            )
        ).all()
    return len(
        {r.fact_id for r in rows if any(e["type"] == "email_sent" for e in r.payload["events"])}
    )


async def calls_with_status(app: FastAPI, status: int) -> int:
    async with app.state.sessionmaker() as session:
        count = await session.scalar(
            sa.text("SELECT count(*) FROM integration_calls WHERE status = :s"), {"s": status}
        )
    return int(count or 0)


class TestBatchSending:
    async def test_a_run_drains_the_queue_and_sends_each_email_exactly_once(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        world: dict[str, Any],
        fake: FakeSendGrid,
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        clients = [
            await client_with_contact(api, world["owner"], f"Batch {i}", f"b{i}@batch{i}.example")
            for i in range(12)
        ]
        await fire(api, [c["id"] for c in clients], template_id=world["template"])
        three_at_once = loopback_settings.model_copy(update={"worker_max_jobs": 3})

        await drain(app, three_at_once, redis_url, registry_with())

        stored = await emails(app)
        assert len(stored) == 12
        assert [(e.status, e.attempts) for e in stored] == [("sent", 1)] * 12
        received = [
            m.body["personalizations"][0]["custom_args"]["tenure_email_id"] for m in fake.messages
        ]
        assert len(received) == 12
        assert sorted(received) == sorted(str(e.id) for e in stored)  # each exactly once
        assert {e.provider_message_id for e in stored} == {m.message_id for m in fake.messages}
        assert 1 <= await sending_runs(app) <= 3  # not one run per email
        async with app.state.sessionmaker() as session:
            jobs = (
                await session.scalars(
                    sa.select(OutboxMessage).where(OutboxMessage.kind == "emails.send")
                )
            ).all()
        assert [j.status for j in jobs] == ["succeeded"] * 12
        assert sum(j.attempts == 0 for j in jobs) >= 6  # finished by a batch, never run
        for client in clients:
            timeline = (await api.get(f"/v1/clients/{client['id']}/events")).json()["data"]
            assert [e["type"] for e in timeline].count("email_sent") == 1

    async def test_a_refused_batch_mate_fails_only_through_its_own_job(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        world: dict[str, Any],
        fake: FakeSendGrid,
        loopback_settings: Settings,
        redis_url: str,
    ) -> None:
        clients = [
            await client_with_contact(api, world["owner"], f"Mate {i}", f"m{i}@mate{i}.example")
            for i in range(5)
        ]
        fake.invalid_recipients.add("m1@mate1.example")
        written = await write_emails(app, workspace, world["template"], [c["id"] for c in clients])
        refused = written[clients[1]["id"]]
        # Its own job waits: only a batch of another email can try it now.
        await defer_send_job(app, refused.id, datetime.now(UTC) + timedelta(days=1))

        await drain(app, loopback_settings, redis_url, registry_with())

        by_id = {e.id: e for e in await emails(app)}
        assert [by_id[e.id].status for e in written.values()].count("sent") == 4
        tried = by_id[refused.id]
        assert (tried.status, tried.attempts, tried.status_reason) == ("queued", 0, None)
        assert await calls_with_status(app, 400) >= 1  # the batch did try it
        assert len(fake.messages) == 4

        await defer_send_job(app, refused.id, datetime.now(UTC) - timedelta(seconds=1))
        await drain(app, loopback_settings, redis_url, registry_with())

        failed = {e.id: e for e in await emails(app)}[refused.id]
        assert (failed.status, failed.attempts) == ("failed", 1)
        assert failed.status_reason is not None
        assert "valid address" in failed.status_reason
        received = [
            m.body["personalizations"][0]["custom_args"]["tenure_email_id"] for m in fake.messages
        ]
        assert sorted(received) == sorted(str(e.id) for e in written.values() if e.id != refused.id)
