"""Issue 11's CRM path over real HTTP through the shipped `tenure serve` + `tenure worker`
(PostgreSQL and Redis): a pull started through the API imports a company of a fake HubSpot on
127.0.0.1 as a client linked to it; events that move the client's band reach the company's
configured fields through the batch update; a Tenure task appears as a HubSpot task on it."""

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.databases import POSTGRES_URL
from tests.e2e.integrations_support import serve_and_worker
from tests.e2e.processes import wait_until
from tests.fakes.hubspot import FakeHubSpot, running_hubspot

SECONDS = 60.0
"""From a request to its effect in the fake (a busy 2-core machine)."""
FIELDS = {"score": "cs_score", "band": "cs_band", "last_touchpoint_at": "cs_last_touch"}


@pytest.fixture
def hubspot() -> Iterator[FakeHubSpot]:
    with running_hubspot() as fake:
        yield fake


def ok(response: httpx.Response, status: int = 200) -> dict[str, Any]:
    assert response.status_code == status, response.text
    body: dict[str, Any] = response.json()
    return body


def active_events(client_id: str) -> dict[str, Any]:
    """A busy fortnight and a call yesterday: a client nobody heard from becomes a busy one."""
    now = datetime.now(UTC)
    events: list[dict[str, Any]] = [
        {
            "client_id": client_id,
            "type": "login",
            "occurred_at": (now - timedelta(hours=6 * n + 1)).isoformat(),
            "external_id": f"login-{n}",
        }
        for n in range(50)
    ]
    touch = now - timedelta(days=1)
    events.append(
        {
            "client_id": client_id,
            "type": "touchpoint",
            "occurred_at": touch.isoformat(),
            "external_id": "call-1",
            "properties": {"channel": "call"},
        }
    )
    return {"events": events}


def assert_pull_push_and_mirror(http: httpx.Client, fake: FakeHubSpot, logs: Any) -> None:
    suffix = uuid.uuid4().hex[:6]
    hubspot_owner = fake.add_owner(f"dana-{suffix}@acme.test", "Dana", "Scully")
    company = fake.add_company("Globex", "globex.example", hubspot_owner)
    integration = ok(
        http.post(
            "/v1/integrations",
            json={
                "kind": "hubspot",
                "name": f"HubSpot {suffix}",
                "credentials": {"access_token": fake.token},
                "base_url": fake.base_url,
                "options": {"push": {"debounce_seconds": 0, "fields": FIELDS}},
            },
        ),
        201,
    )
    sync = ok(http.post(f"/v1/integrations/{integration['id']}/sync"), 202)
    sync_url = f"/v1/integrations/{integration['id']}/syncs/{sync['id']}"
    state: dict[str, Any] = {}

    def pulled() -> bool:
        state["sync"] = ok(http.get(sync_url))
        return bool(state["sync"]["status"] == "succeeded")

    wait_until(pulled, seconds=SECONDS, explain=lambda: f"{state}\n{logs()}", every=0.2)
    (client,) = ok(http.get("/v1/clients"))["data"]
    assert (client["external_id"], client["name"], client["domain"]) == (
        company,
        "Globex",
        "globex.example",
    )
    assert client["owner_id"] is not None  # the company's owner, imported by email

    # The client's first evaluation (it was created with nothing known) reached the company.
    def first_push() -> bool:
        return bool(fake.company(company).get("cs_band"))

    wait_until(first_push, seconds=SECONDS, explain=lambda: f"{fake.state.batch_updates}\n{logs()}")
    before = fake.company(company)["cs_band"]

    ok(http.post("/v1/events", json=active_events(client["id"])))

    def moved() -> bool:
        health = http.get(f"/v1/clients/{client['id']}/health")
        state["health"] = health.json()
        state["company"] = fake.company(company)
        band = state["health"].get("band")
        return bool(band != before and state["company"].get("cs_band") == band)

    wait_until(moved, seconds=SECONDS, explain=lambda: f"{before} {state}\n{logs()}", every=0.3)
    last = [item for batch in fake.state.batch_updates for item in batch][-1]
    assert last["id"] == company
    assert set(last["properties"]) == set(FIELDS.values())
    assert last["properties"]["cs_last_touch"] != ""

    task = ok(http.post("/v1/tasks", json={"client_id": client["id"], "title": "Call Globex"}), 201)

    def mirrored() -> bool:
        return any(
            t.properties.get("hs_task_subject") == "Call Globex" for t in fake.state.tasks.values()
        )

    wait_until(mirrored, seconds=SECONDS, explain=lambda: f"{fake.state.tasks}\n{logs()}")
    (mirror,) = [
        t for t in fake.state.tasks.values() if t.properties["hs_task_subject"] == "Call Globex"
    ]
    assert mirror.company_ids == [company]
    assert mirror.properties["hubspot_owner_id"] == hubspot_owner
    assert task["id"]


@pytest.mark.skipif(
    not POSTGRES_URL, reason="production shape: runs with TENURE_TEST_DATABASE_URL (PostgreSQL)"
)
class TestServeAndWorker:
    def test_a_pulled_client_band_change_and_task_reach_hubspot(
        self, module_database: str, tmp_path: Path, hubspot: FakeHubSpot
    ) -> None:
        with serve_and_worker(module_database, tmp_path, "CRM CS") as (http, logs):
            assert_pull_push_and_mirror(http, hubspot, logs)
