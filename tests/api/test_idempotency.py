import asyncio
import json

import httpx

from tests.factories import create_client


def _contract(client_id: str, amount: str = "100.00") -> dict[str, str]:
    return {"client_id": client_id, "starts_on": "2026-01-01", "amount": amount, "currency": "EUR"}


class TestIdempotencyKey:
    async def test_replay_returns_the_stored_response_and_creates_nothing(
        self, api: httpx.AsyncClient
    ) -> None:
        client = await create_client(api)
        headers = {"Idempotency-Key": "k-1"}
        first = await api.post("/v1/contracts", json=_contract(client["id"]), headers=headers)
        second = await api.post("/v1/contracts", json=_contract(client["id"]), headers=headers)
        assert first.status_code == second.status_code == 201
        assert second.headers["Idempotent-Replayed"] == "true"
        assert "Idempotent-Replayed" not in first.headers
        assert second.json() == first.json()
        assert second.headers["Location"] == first.headers["Location"]
        listed = (await api.get("/v1/contracts", params={"client_id": client["id"]})).json()
        assert len(listed["data"]) == 1

    async def test_same_key_with_a_different_body_is_422(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        headers = {"Idempotency-Key": "k-2"}
        await api.post("/v1/contracts", json=_contract(client["id"]), headers=headers)
        other = await api.post(
            "/v1/contracts", json=_contract(client["id"], "999.00"), headers=headers
        )
        assert other.status_code == 422
        assert other.headers["content-type"] == "application/problem+json"
        assert other.json()["type"].endswith("idempotency-key-reused")

    async def test_keys_are_scoped_to_the_api_key(
        self, api: httpx.AsyncClient, http: httpx.AsyncClient
    ) -> None:
        created = await api.post("/v1/api-keys", json={"name": "second", "scopes": ["write"]})
        other_key = created.json()["api_key"]
        body = {"name": "Initech"}
        first = await api.post("/v1/clients", json=body, headers={"Idempotency-Key": "shared"})
        second = await http.post(
            "/v1/clients",
            json=body,
            headers={"Idempotency-Key": "shared", "Authorization": f"Bearer {other_key}"},
        )
        assert first.status_code == second.status_code == 201
        assert "Idempotent-Replayed" not in second.headers
        assert first.json()["id"] != second.json()["id"]

    async def test_rejected_requests_are_replayed_too(self, api: httpx.AsyncClient) -> None:
        headers = {"Idempotency-Key": "k-3"}
        first = await api.post("/v1/clients", json={"name": "A", "tier": "gold"}, headers=headers)
        second = await api.post("/v1/clients", json={"name": "A", "tier": "gold"}, headers=headers)
        assert first.status_code == second.status_code == 422
        assert second.headers["Idempotent-Replayed"] == "true"

    async def test_concurrent_identical_requests_create_one_row(
        self, api: httpx.AsyncClient
    ) -> None:
        body = json.dumps({"name": "Hooli"})
        headers = {"Idempotency-Key": "race", "Content-Type": "application/json"}
        responses = await asyncio.gather(
            *(api.post("/v1/clients", content=body, headers=headers) for _ in range(5))
        )
        statuses = sorted(r.status_code for r in responses)
        assert set(statuses) <= {201, 409}
        assert 201 in statuses
        created_ids = {r.json()["id"] for r in responses if r.status_code == 201}
        assert len(created_ids) == 1
        listed = (await api.get("/v1/clients", params={"q": "Hooli"})).json()
        assert len(listed["data"]) == 1

    async def test_overlong_key_is_400(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/clients", json={"name": "A"}, headers={"Idempotency-Key": "x" * 256}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
