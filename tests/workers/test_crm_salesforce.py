"""The standing push to Salesforce through real jobs on Redis against the fake Salesforce over
real HTTP: a band change reaches the Account through sObject Collections; an access token that
expires between pushes is refreshed once, the push retried, and the new token stored
encrypted."""

import uuid
from collections.abc import Iterator

import httpx
import pytest
from arq.connections import ArqRedis
from fastapi import FastAPI

from app.config import Settings
from app.db.models import Integration
from app.domain.crm import LinkObject
from app.integrations.credentials import cipher_for
from tests.factories import Workspace, create_client
from tests.fakes.salesforce import FakeSalesforce, running_salesforce
from tests.workers.test_crm_jobs import link, score
from tests.workers.test_trigger_jobs import drain

BAND = "Tenure_Health_Band__c"
SCORE = "Tenure_Health_Score__c"


@pytest.fixture
def settings(default_settings: Settings) -> Settings:
    return default_settings.model_copy(update={"allow_loopback_urls": True})


@pytest.fixture
def salesforce() -> Iterator[FakeSalesforce]:
    with running_salesforce() as fake:
        yield fake


async def stored_credentials(app: FastAPI, settings: Settings, integration_id: str) -> str:
    async with app.state.sessionmaker() as session:
        row = await session.get(Integration, uuid.UUID(integration_id))
        assert row is not None
        encrypted: str = row.credentials_encrypted
        return encrypted


class TestSalesforcePush:
    async def test_a_band_change_updates_the_account_and_an_expired_token_is_renewed_once(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
        salesforce: FakeSalesforce,
    ) -> None:
        response = await api.post(
            "/v1/integrations",
            json={
                "kind": "salesforce",
                "name": "Salesforce",
                "credentials": salesforce.credentials(),
                "options": {"push": {"debounce_seconds": 0}},
            },
        )
        assert response.status_code == 201, response.text
        integration = response.json()
        client = await create_client(api, name="Initech")
        await drain(app, settings, redis_url)  # its creation's evaluation settles first
        account = salesforce.add_account("Initech")
        await link(app, workspace, integration, LinkObject.CLIENT, [(client["id"], account)])

        await score(app, workspace, {client["id"]: (55.0, "watch")})
        await drain(app, settings, redis_url)

        assert [[r["id"] for r in body] for body in salesforce.state.collection_updates] == [
            [account]
        ]
        (sent,) = salesforce.state.collection_updates[0]
        assert (sent[BAND], sent[SCORE]) == ("watch", "55")
        assert salesforce.record("Account", account)[BAND] == "watch"
        first = salesforce.access_token
        assert first is not None
        assert len(salesforce.state.token_requests) == 1  # the first call had no token

        salesforce.expire_access_token()  # the session times out between two pushes
        await score(app, workspace, {client["id"]: (20.0, "at_risk")})
        await drain(app, settings, redis_url)

        assert salesforce.record("Account", account)[BAND] == "at_risk"
        assert len(salesforce.state.token_requests) == 2  # one refresh for the expiry
        renewed = salesforce.access_token
        assert renewed is not None
        assert renewed != first
        encrypted = await stored_credentials(app, settings, integration["id"])
        assert renewed not in encrypted
        assert cipher_for(settings).decrypt(encrypted)["access_token"] == renewed
        url = f"/v1/integrations/{integration['id']}/calls"
        statuses = [c["status"] for c in (await api.get(url)).json()["data"]]
        assert statuses.count(401) == 1
