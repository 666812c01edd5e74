import json
import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest

from tests.factories import create_client


class TestProblemDetails:
    async def test_malformed_json_is_400(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/clients", content=b'{"name": ', headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["type"] == "urn:tenure:problem:malformed-json"

    async def test_validation_errors_list_each_field(self, api: httpx.AsyncClient) -> None:
        response = await api.post("/v1/owners", json={"name": "", "email": "not-an-email"})
        assert response.status_code == 422
        problem = response.json()
        assert problem["status"] == 422
        assert {tuple(e["loc"]) for e in problem["errors"]} == {
            ("body", "name"),
            ("body", "email"),
        }

    async def test_unknown_resource_is_404_problem(self, api: httpx.AsyncClient) -> None:
        response = await api.get(f"/v1/clients/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.json()["title"] == "Not found"
        assert response.json()["instance"].startswith("/v1/clients/")

    async def test_wrong_method_lists_every_allowed_method(self, api: httpx.AsyncClient) -> None:
        response = await api.put(f"/v1/clients/{uuid.uuid4()}")
        assert response.status_code == 405
        assert response.headers["Allow"] == "DELETE, GET, HEAD, PATCH"

    async def test_unknown_query_parameter_is_rejected(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/clients", params={"teir": "smb"})
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "teir"]

    async def test_a_scalar_query_parameter_given_twice_is_rejected(
        self, api: httpx.AsyncClient
    ) -> None:
        response = await api.get("/v1/clients?q=a&q=b")
        assert response.status_code == 422
        assert response.json()["errors"][0]["loc"] == ["query", "q"]

    async def test_an_array_query_parameter_may_repeat(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/events?type=login&type=nps")
        assert response.status_code == 200

    async def test_query_booleans_are_true_or_false(self, api: httpx.AsyncClient) -> None:
        assert (await api.get("/v1/owners", params={"active": "true"})).status_code == 200
        assert (await api.get("/v1/owners", params={"active": "0"})).status_code == 422

    async def test_numbers_are_not_dates(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/contracts", params={"active_on": "0"})
        assert response.status_code == 422


class TestBodyLimit:
    async def test_declared_oversized_body_is_413(self, api: httpx.AsyncClient) -> None:
        big = {"name": "Big", "attributes": {"blob": "x" * 300_000}}
        response = await api.post("/v1/clients", json=big)
        assert response.status_code == 413
        assert response.headers["content-type"] == "application/problem+json"

    async def test_streamed_oversized_body_is_413(self, api: httpx.AsyncClient) -> None:
        async def chunks() -> AsyncIterator[bytes]:
            yield b'{"name": "Big", "attributes": {"blob": "'
            for _ in range(40):
                yield b"x" * 10_000
            yield b'"}}'

        response = await api.post(
            "/v1/clients", content=chunks(), headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 413

    async def test_oversized_body_with_idempotency_key_is_413(self, api: httpx.AsyncClient) -> None:
        big = {"name": "Big", "attributes": {"blob": "x" * 300_000}}
        response = await api.post("/v1/clients", json=big, headers={"Idempotency-Key": "big"})
        assert response.status_code == 413


class TestRequestId:
    async def test_a_request_id_is_generated(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/clients")
        assert len(response.headers["X-Request-ID"]) == 32

    async def test_the_callers_request_id_is_kept_and_logged(
        self, api: httpx.AsyncClient, caplog: pytest.LogCaptureFixture
    ) -> None:
        from app.logging import JsonFormatter

        caplog.set_level(logging.INFO, logger="tenure.access")
        response = await api.get("/v1/clients", headers={"X-Request-ID": "trace-abc.123"})
        assert response.headers["X-Request-ID"] == "trace-abc.123"
        lines = [json.loads(JsonFormatter().format(r)) for r in caplog.records]
        assert any(
            line.get("request_id") == "trace-abc.123" and line.get("path") == "/v1/clients"
            for line in lines
        )

    async def test_an_unsafe_request_id_is_replaced(self, api: httpx.AsyncClient) -> None:
        response = await api.get("/v1/clients", headers={"X-Request-ID": "bad id\twith spaces"})
        assert response.headers["X-Request-ID"] != "bad id\twith spaces"


class TestSystemEndpoints:
    async def test_healthz_needs_no_key(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/healthz")
        assert response.json() == {"status": "ok"}

    async def test_readyz_reaches_the_database(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/readyz")
        assert response.status_code == 200
        assert response.json() == {"status": "ready"}


class TestTimestamps:
    async def test_timestamps_are_timezone_aware(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api, acquired_at="2025-03-01T12:00:00+02:00")
        assert client["acquired_at"] == "2025-03-01T10:00:00Z"
        assert client["created_at"].endswith("Z")

    async def test_naive_timestamps_are_rejected(self, api: httpx.AsyncClient) -> None:
        response = await api.post(
            "/v1/clients", json={"name": "A", "acquired_at": "2025-03-01T12:00:00"}
        )
        assert response.status_code == 422
