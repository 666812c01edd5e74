"""`acquired_at`: given by a caller, or derived from the earliest history and kept current as
older history arrives (events, contracts, churns), so imported history is never refused."""

from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.factories import create_client, create_contract

Json = dict[str, Any]
NOW = datetime.now(UTC).replace(microsecond=0)


def days_ago(days: float) -> str:
    return (NOW - timedelta(days=days)).isoformat().replace("+00:00", "Z")


async def fetch(api: httpx.AsyncClient, client: Json) -> Json:
    response = await api.get(f"/v1/clients/{client['id']}")
    assert response.status_code == 200, response.text
    data: Json = response.json()
    return data


async def post_events(api: httpx.AsyncClient, client: Json, *events: tuple[str, str]) -> None:
    items = [
        {
            "client_id": client["id"],
            "type": kind,
            "occurred_at": moment,
            "properties": {"ticket_id": "T-1"} if kind.startswith("ticket") else {},
        }
        for kind, moment in events
    ]
    response = await api.post("/v1/events", json={"events": items})
    assert response.status_code == 200, response.text


def acquisition(client: Json) -> tuple[str, str]:
    return client["acquired_at"], client["acquired_at_source"]


class TestDerived:
    async def test_a_new_client_without_a_date_was_acquired_when_created(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        assert acquisition(client) == (client["created_at"], "created")

    async def test_a_churn_last_month_of_a_client_created_today_is_accepted(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        churn = {"reason": "budget cut", "occurred_at": days_ago(30)}
        response = await api.post(f"/v1/clients/{client['id']}/churn", json=churn)
        assert response.status_code == 200, response.text
        churned = response.json()
        assert churned["churned_at"] == days_ago(30)
        assert acquisition(churned) == (days_ago(30), "history")

    async def test_older_events_move_it_earlier_but_our_own_outreach_does_not(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        await post_events(api, client, ("email_sent", days_ago(400)), ("login", days_ago(200)))
        assert acquisition(await fetch(api, client)) == (days_ago(200), "history")
        await post_events(api, client, ("referral", days_ago(300)), ("login", days_ago(100)))
        assert acquisition(await fetch(api, client)) == (days_ago(300), "history")

    async def test_a_client_made_by_ingest_was_acquired_by_its_first_event(
        self, api: httpx.AsyncClient
    ) -> None:
        items = [
            {"client_external_id": "crm-new", "type": "login", "occurred_at": days_ago(d)}
            for d in (20, 90, 45)
        ]
        body = {"events": items, "upsert_clients": True}
        assert (await api.post("/v1/events", json=body)).status_code == 200
        (client,) = (await api.get("/v1/clients")).json()["data"]
        assert acquisition(client) == (days_ago(90), "history")

    async def test_an_escalation_before_the_creation_counts_once_history_shows_it(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        await post_events(api, client, ("ticket_escalated", days_ago(50)))
        stored = await fetch(api, client)
        assert stored["first_escalation_at"] == days_ago(50)
        assert acquisition(stored) == (days_ago(50), "history")

    async def test_contracts_move_it_and_a_moved_or_deleted_contract_moves_it_back(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        etag = (await api.get(f"/v1/clients/{client['id']}")).headers["etag"]
        contract = await create_contract(api, client["id"], starts_on="2024-03-01")
        assert acquisition(await fetch(api, client)) == ("2024-03-01T00:00:00Z", "history")
        # a derived fact, not an edit of the client: its ETag stays
        assert (await api.get(f"/v1/clients/{client['id']}")).headers["etag"] == etag
        await post_events(api, client, ("login", "2024-06-01T08:00:00Z"))
        moved = await api.patch(f"/v1/contracts/{contract['id']}", json={"starts_on": "2025-01-01"})
        assert moved.status_code == 200, moved.text
        assert acquisition(await fetch(api, client)) == ("2024-06-01T08:00:00Z", "history")
        etag = (await api.get(f"/v1/contracts/{contract['id']}")).headers["etag"]
        deleted = await api.delete(f"/v1/contracts/{contract['id']}", headers={"If-Match": etag})
        assert deleted.status_code == 204, deleted.text
        assert acquisition(await fetch(api, client)) == ("2024-06-01T08:00:00Z", "history")

    async def test_a_cancelled_contract_is_history_too(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        await create_contract(api, client["id"], starts_on="2023-05-01", status="cancelled")
        assert acquisition(await fetch(api, client)) == ("2023-05-01T00:00:00Z", "history")

    async def test_reactivating_takes_the_churn_out_of_the_history(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        churn = {"reason": "mistake", "occurred_at": days_ago(30)}
        assert (await api.post(f"/v1/clients/{client['id']}/churn", json=churn)).status_code == 200
        reactivated = await api.post(f"/v1/clients/{client['id']}/reactivate")
        assert reactivated.status_code == 200, reactivated.text
        assert acquisition(reactivated.json()) == (client["created_at"], "created")


class TestGiven:
    async def test_a_given_date_refuses_an_earlier_churn(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, acquired_at=days_ago(10))
        assert acquisition(client) == (days_ago(10), "given")
        churn = {"reason": "r", "occurred_at": days_ago(20)}
        response = await api.post(f"/v1/clients/{client['id']}/churn", json=churn)
        assert response.status_code == 422, response.text
        assert "before the client was acquired" in response.json()["detail"]

    async def test_history_does_not_move_a_given_date(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, acquired_at=days_ago(10))
        await post_events(api, client, ("login", days_ago(40)), ("ticket_escalated", days_ago(30)))
        await create_contract(api, client["id"], starts_on="2024-01-01")
        stored = await fetch(api, client)
        assert acquisition(stored) == (days_ago(10), "given")
        assert stored["first_escalation_at"] is None  # before the given acquisition

    async def test_null_forgets_the_given_date_and_derives_it_again(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api, acquired_at=days_ago(10))
        await post_events(api, client, ("ticket_escalated", days_ago(30)))
        response = await api.patch(f"/v1/clients/{client['id']}", json={"acquired_at": None})
        assert response.status_code == 200, response.text
        assert acquisition(response.json()) == (days_ago(30), "history")
        assert response.json()["first_escalation_at"] == days_ago(30)
        given = await api.patch(f"/v1/clients/{client['id']}", json={"acquired_at": days_ago(5)})
        assert acquisition(given.json()) == (days_ago(5), "given")
        assert given.json()["first_escalation_at"] is None

    async def test_put_by_external_id_gives_a_date_or_forgets_it(
        self, api: httpx.AsyncClient
    ) -> None:
        path = "/v1/clients/by-external-id/crm-7"
        created = await api.put(path, json={"name": "Globex", "acquired_at": days_ago(3)})
        assert acquisition(created.json()) == (days_ago(3), "given")
        await post_events(api, created.json(), ("login", days_ago(90)))
        forgotten = await api.put(path, json={"acquired_at": None})
        assert acquisition(forgotten.json()) == (days_ago(90), "history")
