"""Input that PostgreSQL cannot store must be refused with 422 on every database, not a 500."""

import httpx

from tests.factories import create_client


class TestNulCharacters:
    async def test_nul_in_a_body_field_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/clients", json={"name": "a\x00b"})
        assert response.status_code == 422
        assert response.headers["content-type"] == "application/problem+json"

    async def test_nul_in_attributes_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/clients", json={"name": "a", "attributes": {"k\x00": 1}})
        assert response.status_code == 422

    async def test_nul_in_a_query_parameter_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/clients", params={"q": "a\x00b"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "q"]

    async def test_nul_in_a_path_parameter_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.put("/v1/clients/by-external-id/a%00b", json={"name": "x"})
        assert response.status_code == 422

    async def test_nul_in_event_properties_rejects_the_item(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        event = {
            "client_id": client["id"],
            "type": "login",
            "occurred_at": "2026-01-01T00:00:00Z",
            "properties": {"note": "a\x00"},
        }
        response = await api.post("/v1/events", json={"events": [event]})
        assert response.status_code == 422
        assert response.json()["results"][0]["status"] == "rejected"


class TestAcquiredAt:
    async def test_null_acquired_at_on_create_is_rejected(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/clients", json={"name": "a", "acquired_at": None})
        assert response.status_code == 422

    async def test_omitted_acquired_at_defaults_to_now(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        assert client["acquired_at"] is not None


class TestNonJsonNumbers:
    async def test_nan_in_attributes_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/clients",
            content=b'{"name": "a", "attributes": {"x": NaN}}',
            headers={"Content-Type": "application/json"},
        )
        assert response.status_code == 422
        assert "finite" in response.json()["errors"][0]["msg"]


class TestCalendarEdges:
    async def test_a_time_that_overflows_in_utc_is_422(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/clients", json={"name": "a", "acquired_at": "0001-01-01T00:30:00+01:00"}
        )
        assert response.status_code == 422
