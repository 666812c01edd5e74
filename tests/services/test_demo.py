import random
from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.domain import demo
from app.domain.api_keys import Principal, Scope
from app.services.demo import DemoSummary, seed_demo
from tests.factories import Workspace

CLIENTS = 20
DAYS = 60
SEED = 5


@pytest.fixture
def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


@pytest.fixture
def plan(now: datetime) -> demo.DemoPlan:
    return demo.plan_demo(random.Random(SEED), CLIENTS, DAYS, now)


@pytest.fixture
async def seeded(app: FastAPI, workspace: Workspace, now: datetime) -> DemoSummary:
    principal = Principal(workspace.id, workspace.admin_key_id, (Scope.ADMIN,))
    async with app.state.sessionmaker() as session:
        return await seed_demo(session, principal, clients=CLIENTS, days=DAYS, now=now, seed=SEED)


async def every(api: httpx.AsyncClient, path: str, **params: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    cursor = None
    while True:
        query = {"limit": 100, **params, **({"cursor": cursor} if cursor else {})}
        response = await api.get(path, params=query)
        assert response.status_code == 200, response.text
        page = response.json()
        items += page["data"]
        if not page["has_more"]:
            return items
        cursor = page["next_cursor"]


class TestSeedDemo:
    """Seeding takes a second or two, so one test looks at the seeded book from every side."""

    async def test_the_planned_book_is_stored_once_and_tells_its_stories_through_the_api(
        self, seeded: DemoSummary, api: httpx.AsyncClient, plan: demo.DemoPlan, now: datetime
    ) -> None:
        assert seeded == DemoSummary(
            owners=1,
            clients=CLIENTS,
            contracts=sum(len(c.contracts) for c in plan.clients),
            events=sum(1 for _ in demo.all_events(plan)),
            churned=sum(1 for c in plan.clients if c.churn is not None),
        )
        owners = await every(api, "/v1/owners")
        clients = await every(api, "/v1/clients")
        contracts = await every(api, "/v1/contracts")
        events = await every(api, "/v1/events")
        assert len(owners) == seeded.owners
        assert len(clients) == seeded.clients
        assert len(contracts) == seeded.contracts
        assert len(events) == seeded.events
        assert len({(e["source"], e["external_id"]) for e in events}) == seeded.events
        assert {c["owner_id"] for c in clients} == {o["id"] for o in owners}
        assert Counter(c["status"] for c in clients)["churned"] == seeded.churned

        by_external_id = {c["external_id"]: c for c in clients}
        stories = Counter(c.archetype for c in plan.clients)
        assert set(stories) == set(demo.Archetype)
        for planned in plan.clients:
            client = by_external_id[planned.external_id]
            assert client["last_activity_at"] is not None
            if planned.churn is not None:
                assert client["status"] == "churned"
                assert client["churn_reason"] == planned.churn.reason
                assert datetime.fromisoformat(client["churned_at"]) == planned.churn.churned_at
                continue
            assert client["status"] == "active"
            if planned.archetype is demo.Archetype.DECLINING:
                touched = client["last_touchpoint_at"]
                silent_since = now - timedelta(days=45)
                assert touched is None or datetime.fromisoformat(touched) <= silent_since
                assert client["open_tickets"] > 0
        touchpoints = [e for e in events if e["type"] == "touchpoint"]
        assert touchpoints
        owner_of = {c["id"]: c["owner_id"] for c in by_external_id.values()}
        assert all(e["properties"]["owner_id"] == owner_of[e["client_id"]] for e in touchpoints)
