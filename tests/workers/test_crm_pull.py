"""The CRM pull through real jobs on Redis against the fake HubSpot and Salesforce over real
HTTP: several pages of owners (by email), companies (→ clients by link or external id) and
contacts; a re-run updates without duplicates; an outage mid-way resumes at its page; an
expired Salesforce query locator restarts its object."""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
from arq.connections import ArqRedis
from fastapi import FastAPI

from app.config import Settings
from app.db.models import Client, Contact, OutboxMessage, Owner
from tests.factories import Workspace, create_client, create_owner
from tests.fakes.hubspot import FakeHubSpot, running_hubspot
from tests.fakes.salesforce import FakeSalesforce, running_salesforce
from tests.workers.test_crm_jobs import COUNTED, connect_hubspot
from tests.workers.test_trigger_jobs import drain


@pytest.fixture
def settings(default_settings: Settings) -> Settings:
    return default_settings.model_copy(update={"allow_loopback_urls": True})


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with running_hubspot() as fake:
        yield fake


class TestPull:
    async def test_a_paged_pull_links_everything_and_a_rerun_updates_without_duplicates(
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
        existing = await create_owner(api, email="lee@acme.example")
        lee = hubspot.add_owner("Lee@acme.example", "Lee")
        kim = hubspot.add_owner("kim@acme.example", "Kim", "Park")
        companies = [hubspot.add_company(f"Co {n}", f"co{n}.example", lee) for n in range(230)]
        prior = await create_client(api, name="Old name", external_id=companies[5])
        hubspot.add_contact("ann@co0.example", "Ann", "Lee", "CFO", (companies[0],))
        hubspot.add_contact("bob@nowhere.example", "Bob", company_ids=())
        first = await api.post(f"/v1/integrations/{integration['id']}/sync")
        assert first.status_code == 202, first.text
        again = await api.post(f"/v1/integrations/{integration['id']}/sync")
        assert again.status_code == 409

        syncs = f"/v1/integrations/{integration['id']}/syncs"
        sync = await finish(app, settings, redis_url, api, f"{syncs}/{first.json()['id']}")
        assert sync["status"] == "succeeded", sync
        counts = sync["counts"]
        assert {k: counts.get(k) for k in COUNTED} == {
            "owners_matched": 1,
            "owners_created": 1,
            "companies_created": 229,
            "companies_updated": 1,
            "contacts_created": 1,
            "contacts_unlinked": 1,
        }
        assert counts["pages"] == 5  # owners, three of companies, contacts
        assert await count(app, Client) == 230
        renamed = (await api.get(f"/v1/clients/{prior['id']}")).json()
        assert (renamed["name"], renamed["owner_id"]) == ("Co 5", existing["id"])
        assert await count(app, Owner) == 2
        assert await count(app, Contact) == 1

        hubspot.state.companies[companies[7]]["name"] = "Co 7 renamed"
        rerun = await api.post(f"/v1/integrations/{integration['id']}/sync")
        assert rerun.status_code == 202
        second = await finish(app, settings, redis_url, api, f"{syncs}/{rerun.json()['id']}")
        assert second["status"] == "succeeded"
        assert second["counts"]["companies_updated"] == 1
        assert second["counts"]["companies_unchanged"] == 229
        assert "companies_created" not in second["counts"]
        assert await count(app, Client) == 230
        assert await count(app, Owner) == 2
        assert await count(app, Contact) == 1
        listed = (await api.get(f"/v1/integrations/{integration['id']}/syncs")).json()["data"]
        assert [s["id"] for s in listed] == [rerun.json()["id"], first.json()["id"]]
        assert kim

    async def test_a_failure_mid_way_retries_the_job_and_resumes_at_that_page(
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
        for n in range(250):
            hubspot.add_company(f"Co {n}")
        # The second page of companies fails three times: every try one job run makes.
        hubspot.fail_companies_page("100", times=3)
        started = await api.post(f"/v1/integrations/{integration['id']}/sync")
        assert started.status_code == 202, started.text
        sync_url = f"/v1/integrations/{integration['id']}/syncs/{started.json()['id']}"

        done = await finish(app, settings, redis_url, api, sync_url)
        assert done["status"] == "succeeded", done
        assert (done["counts"]["companies_created"], done["error"]) == (250, None)
        assert done["counts"]["pages"] == 5  # owners, three of companies, contacts
        assert await count(app, Client) == 250
        company_pages = [
            path for _method, path in hubspot.state.requests if path.endswith("/companies")
        ]
        # Three pages and the second's three refusals: the first was not fetched again.
        assert len(company_pages) == 6
        url = f"/v1/integrations/{integration['id']}/calls"
        calls = (await api.get(url, params={"operation": "list_companies"})).json()["data"]
        assert sorted(c["status"] for c in calls) == [200, 200, 200, 503, 503, 503]
        async with app.state.sessionmaker() as session:
            attempts = await session.scalars(
                sa.select(OutboxMessage.attempts).where(OutboxMessage.kind == "crm.sync")
            )
            assert sorted(attempts) == [1, 1, 1, 1, 2]  # the second page's run tried twice


class TestSalesforcePull:
    async def test_an_expired_query_locator_restarts_the_object_from_its_start(
        self,
        app: FastAPI,
        api: httpx.AsyncClient,
        workspace: Workspace,
        settings: Settings,
        arq_pool: ArqRedis,
        redis_url: str,
    ) -> None:
        with running_salesforce(page_size=2) as fake:
            integration = await connect_salesforce(api, fake)
            accounts = [fake.add_account(f"Account {n}") for n in range(5)]
            # The run for the second page of accounts comes after Salesforce forgot the query
            # locator the first page gave (its job waited for a retry, say).
            fake.expire_query_locators(when_next_used=True)
            started = await api.post(f"/v1/integrations/{integration['id']}/sync")
            assert started.status_code == 202, started.text
            sync_url = f"/v1/integrations/{integration['id']}/syncs/{started.json()['id']}"

            await drain(app, settings, redis_url)

            done = (await api.get(sync_url)).json()
        assert done["status"] == "succeeded", done
        counts = done["counts"]
        assert (counts["companies_created"], counts["companies_unchanged"]) == (5, 2)
        assert counts["companies_restarts"] == 1
        assert await count(app, Client) == 5
        clients = (await api.get("/v1/clients", params={"limit": 100})).json()["data"]
        assert sorted(c["external_id"] for c in clients) == sorted(accounts)


async def connect_salesforce(api: httpx.AsyncClient, fake: FakeSalesforce) -> dict[str, Any]:
    response = await api.post(
        "/v1/integrations",
        json={"kind": "salesforce", "name": "Salesforce", "credentials": fake.credentials()},
    )
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


async def finish(
    app: FastAPI, settings: Settings, redis_url: str, api: httpx.AsyncClient, url: str
) -> dict[str, Any]:
    """Drains until the sync at `url` ended: a pull of hundreds of companies also evaluates and
    pushes each new client, which can outlast one drain's passes on a loaded machine."""
    for _ in range(5):
        await drain(app, settings, redis_url)
        sync: dict[str, Any] = (await api.get(url)).json()
        if sync["status"] in ("succeeded", "failed"):
            break
    return sync


async def count(app: FastAPI, model: Any) -> int:
    async with app.state.sessionmaker() as session:
        return int(await session.scalar(sa.select(sa.func.count()).select_from(model)) or 0)
