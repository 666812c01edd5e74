"""The per-contact cap under concurrency: transactions writing emails to one address at once
never queue more than the cap, whichever clients or triggers they come from."""

import asyncio
import uuid
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.db.models import Email
from app.domain.emails import parse_params
from app.services.emails import EmailCause, compose
from tests.databases import backend
from tests.emails_support import create_email_template, create_log_integration
from tests.factories import Workspace, create_client, create_contact

pytestmark = pytest.mark.skipif(
    backend() != "postgresql", reason="SQLite serialises writers, so nothing can race"
)
SHARED = "shared@partner.example"


async def clients_sharing_one_contact(api: httpx.AsyncClient, count: int) -> list[str]:
    """One person is the primary contact of several clients (a consultant, a parent company)."""
    ids = []
    for i in range(count):
        client = await create_client(api, name=f"Client {i}")
        address = SHARED.upper() if i % 2 else SHARED
        await create_contact(api, client["id"], name="Pat", email=address, is_primary=True)
        ids.append(client["id"])
    return ids


async def compose_in_own_transaction(
    app: FastAPI, workspace_id: uuid.UUID, client_id: str, params: Any, *, hold: float = 0.0
) -> str:
    async with app.state.sessionmaker() as session:
        email, _ = await compose(
            session, workspace_id, uuid.UUID(client_id), params, EmailCause(), datetime.now(UTC)
        )
        await asyncio.sleep(hold)  # the lock held, the count read: others must wait
        await session.commit()
        return email.status


async def statuses(app: FastAPI) -> list[str]:
    async with app.state.sessionmaker() as session:
        return sorted((await session.scalars(sa.select(Email.status))).all())


@pytest.fixture
async def params(api: httpx.AsyncClient) -> Any:
    await create_log_integration(api)
    parsed, problems = parse_params(
        {"template_id": await create_email_template(api), "review": False}
    )
    assert parsed is not None, problems
    return parsed


class TestCapUnderConcurrency:
    async def test_two_transactions_at_once_queue_one_email_when_one_is_allowed(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, params: Any
    ) -> None:
        assert (await api.patch("/v1/email-settings", json={"cap_count": 1})).status_code == 200
        first, second = await clients_sharing_one_contact(api, 2)
        async with app.state.sessionmaker() as one:
            email, _ = await compose(
                one, workspace.id, uuid.UUID(first), params, EmailCause(), datetime.now(UTC)
            )
            assert email.status == "queued"  # flushed, not committed: the count sees nothing
            racing = asyncio.create_task(
                compose_in_own_transaction(app, workspace.id, second, params)
            )
            await asyncio.sleep(0.3)
            assert not racing.done()  # it waits on the address's lock
            await one.commit()
            assert await racing == "suppressed"
        assert await statuses(app) == ["queued", "suppressed"]

    async def test_many_at_once_never_exceed_the_cap(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, params: Any
    ) -> None:
        assert (await api.patch("/v1/email-settings", json={"cap_count": 2})).status_code == 200
        clients = await clients_sharing_one_contact(api, 8)
        results = await asyncio.gather(
            *(compose_in_own_transaction(app, workspace.id, c, params, hold=0.05) for c in clients)
        )
        assert sorted(results) == ["queued"] * 2 + ["suppressed"] * 6
        assert await statuses(app) == sorted(results)
