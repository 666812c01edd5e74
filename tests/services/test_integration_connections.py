"""Connections: which integration a job gets, and calls that outlive a rolled-back job."""

import uuid
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from fastapi import FastAPI

from app.config import Settings
from app.db.models import Integration, IntegrationCall
from app.integrations.base import ProviderError
from app.integrations.credentials import cipher_for
from app.services.integration_connections import NoIntegration, crm_connection, email_connection
from tests.factories import Workspace
from tests.fakes.scopes import GOOD_KEY, fake_account

WRONG_KEY = "SG.wrong-key-that-the-fake-echoes"


@pytest.fixture
def settings(default_settings: Settings) -> Settings:
    return default_settings.model_copy(update={"allow_loopback_urls": True})


async def integrate(api: httpx.AsyncClient, **body: Any) -> str:
    payload = {"kind": "log", "name": f"I {uuid.uuid4().hex[:6]}", "credentials": {}, **body}
    response = await api.post("/v1/integrations", json=payload)
    assert response.status_code == 201, response.text
    integration_id: str = response.json()["id"]
    return integration_id


class TestWhichIntegration:
    async def test_the_workspace_email_integration_is_its_oldest_active_one(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, settings: Settings
    ) -> None:
        await integrate(api, status="disabled")
        await integrate(api, kind="hubspot", credentials={"access_token": "pat-na1-x"})
        oldest_active = await integrate(api)
        await integrate(api)
        async with app.state.sessionmaker() as session:
            connection = await email_connection(session, settings, workspace.id)
        assert str(connection.integration_id) == oldest_active

    async def test_none_active_is_no_integration(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, settings: Settings
    ) -> None:
        disabled = await integrate(api, status="disabled")
        async with app.state.sessionmaker() as session:
            with pytest.raises(NoIntegration, match="no active email integration"):
                await email_connection(session, settings, workspace.id)
            with pytest.raises(NoIntegration, match="disabled"):
                await email_connection(session, settings, workspace.id, uuid.UUID(disabled))
            with pytest.raises(NoIntegration, match="not a crm integration"):
                await crm_connection(session, settings, workspace.id, uuid.UUID(disabled))

    async def test_another_workspace_integration_is_not_found(
        self, app: FastAPI, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        theirs = await integrate(api)
        async with app.state.sessionmaker() as session:
            with pytest.raises(NoIntegration):
                await email_connection(session, settings, uuid.uuid4(), uuid.UUID(theirs))


class TestCallsOutliveARollback:
    async def test_failed_calls_are_saved_after_the_job_session_rolled_back(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, settings: Settings
    ) -> None:
        with fake_account() as (base_url, _):
            integration_id = await integrate(
                api, kind="sendgrid", base_url=base_url, credentials={"api_key": WRONG_KEY}
            )
            async with app.state.sessionmaker() as job_session:
                connection = await email_connection(job_session, settings, workspace.id)
                with pytest.raises(ProviderError):
                    await connection.provider.check()
                await job_session.rollback()
        assert len(connection.calls) == 1

        async with app.state.sessionmaker() as log_session:
            await connection.save(log_session)
            await log_session.commit()

        assert connection.calls == []
        async with app.state.sessionmaker() as session:
            rows = (
                await session.scalars(
                    sa.select(IntegrationCall).where(
                        IntegrationCall.integration_id == uuid.UUID(integration_id)
                    )
                )
            ).all()
        assert [(r.operation, r.status, r.workspace_id) for r in rows] == [
            ("check", 401, workspace.id)
        ]
        assert rows[0].error is not None
        assert "401" in rows[0].error
        assert WRONG_KEY not in rows[0].error


class TestRenewedCredentials:
    async def _stored(
        self, app: FastAPI, integration_id: str, settings: Settings
    ) -> dict[str, str]:
        async with app.state.sessionmaker() as session:
            token = await session.scalar(
                sa.select(Integration.credentials_encrypted).where(
                    Integration.id == uuid.UUID(integration_id)
                )
            )
        assert token is not None
        return cipher_for(settings).decrypt(token)

    async def test_are_stored_encrypted_by_save(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, settings: Settings
    ) -> None:
        integration_id = await integrate(
            api, kind="sendgrid", base_url="https://api.sendgrid.com", credentials={"api_key": "a1"}
        )
        async with app.state.sessionmaker() as session:
            connection = await email_connection(session, settings, workspace.id)
            connection.buffer.credentials_changed({"api_key": GOOD_KEY})
            await connection.save(session)
            await session.commit()
        assert await self._stored(app, integration_id, settings) == {"api_key": GOOD_KEY}

    async def test_never_overwrite_credentials_replaced_meanwhile(
        self, app: FastAPI, api: httpx.AsyncClient, workspace: Workspace, settings: Settings
    ) -> None:
        integration_id = await integrate(
            api, kind="sendgrid", base_url="https://api.sendgrid.com", credentials={"api_key": "a1"}
        )
        async with app.state.sessionmaker() as session:
            connection = await email_connection(session, settings, workspace.id)
        response = await api.patch(
            f"/v1/integrations/{integration_id}", json={"credentials": {"api_key": "typed-anew"}}
        )
        assert response.status_code == 200
        connection.buffer.credentials_changed({"api_key": "renewed-from-old"})
        async with app.state.sessionmaker() as session:
            await connection.save(session)
            await session.commit()
        assert await self._stored(app, integration_id, settings) == {"api_key": "typed-anew"}


class TestKeyRotation:
    async def test_rotation_rewrites_every_row_under_the_new_key_once(
        self, app: FastAPI, api: httpx.AsyncClient, settings: Settings
    ) -> None:
        """`tenure rotate-credentials`: with the new key first, every row is re-encrypted
        under it, after which the old key can go; a second run has nothing to do."""
        from cryptography.fernet import Fernet
        from pydantic import SecretStr

        from app.integrations.credentials import encryption_keys
        from app.services.integrations import rotate_credentials

        integration_id = await integrate(
            api, kind="hubspot", credentials={"access_token": "pat-na1-rotate"}
        )
        old = encryption_keys(settings)
        new = Fernet.generate_key().decode()
        both = settings.model_copy(update={"encryption_key": SecretStr(",".join([new, *old]))})
        only_new = settings.model_copy(update={"encryption_key": SecretStr(new)})

        async with app.state.sessionmaker.begin() as session:
            assert await rotate_credentials(session, both) == 1
        async with app.state.sessionmaker.begin() as session:
            assert await rotate_credentials(session, both) == 0
            token = await session.scalar(
                sa.select(Integration.credentials_encrypted).where(
                    Integration.id == uuid.UUID(integration_id)
                )
            )
        assert token is not None
        assert cipher_for(only_new).decrypt(token) == {"access_token": "pat-na1-rotate"}
