"""HTTP semantics the API keeps on every path: HEAD answers as GET without a body, an Accept
header that admits no JSON gets 406, and an unexpected error is a 500 problem that leaves the
connection usable."""

import logging
import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.api.operations import OPERATIONS, Operation, random_ids
from tests.factories import create_client

PROBLEM = "application/problem+json"
GETS = [op for op in OPERATIONS if op.method == "GET" and not op.path_params]
SAME_HEADERS = ("content-type", "content-length", "etag", "cache-control")


class TestHead:
    @pytest.mark.parametrize("operation", GETS, ids=lambda op: op.label)
    async def test_head_answers_as_get_without_a_body(
        self, api: httpx.AsyncClient, operation: Operation
    ) -> None:
        get = await api.get(operation.path)
        head = await api.head(operation.path)
        assert (head.status_code, get.status_code) == (200, 200)
        assert head.content == b""
        for name in SAME_HEADERS:
            assert head.headers.get(name) == get.headers.get(name), name

    async def test_head_on_one_resource_carries_its_etag(self, api: httpx.AsyncClient) -> None:
        client = await create_client(api)
        get = await api.get(f"/v1/clients/{client['id']}")
        head = await api.head(f"/v1/clients/{client['id']}")
        assert head.status_code == 200
        assert head.headers["etag"] == get.headers["etag"]
        assert int(head.headers["content-length"]) == len(get.content)
        assert head.content == b""

    async def test_head_is_authenticated_like_get(self, http: httpx.AsyncClient) -> None:
        response = await http.head("/v1/clients")
        assert response.status_code == 401
        assert response.headers["content-type"] == PROBLEM
        assert response.content == b""

    async def test_head_on_a_missing_resource_is_404(self, api: httpx.AsyncClient) -> None:
        response = await api.head(f"/v1/clients/{uuid.uuid4()}")
        assert response.status_code == 404
        assert response.content == b""

    async def test_head_where_there_is_no_get_is_405(self, api: httpx.AsyncClient) -> None:
        response = await api.head(f"/v1/api-keys/{uuid.uuid4()}")
        assert response.status_code == 405
        assert response.headers["allow"] == "DELETE"

    async def test_allow_lists_head_wherever_get_is(self, api: httpx.AsyncClient) -> None:
        response = await api.post(f"/v1/owners/{uuid.uuid4()}")
        assert response.status_code == 405
        assert response.headers["allow"] == "DELETE, GET, HEAD, PATCH"

    async def test_a_named_collection_action_is_not_a_client_id(
        self, api: httpx.AsyncClient
    ) -> None:
        """`/v1/clients/batch` is its own path: other methods on it are 405, not a 422 about
        an invalid client id, and a segment that is no id names no client."""
        response = await api.patch("/v1/clients/batch", json={})
        assert response.status_code == 405, response.text
        assert response.headers["allow"] == "POST"
        response = await api.get("/v1/clients/not-an-id")
        assert response.status_code == 404, response.text
        assert response.headers["content-type"] == PROBLEM


class TestAccept:
    @pytest.mark.parametrize(
        "accept",
        [
            "application/json",
            "application/problem+json",
            "*/*",
            "application/*",
            "text/html, application/json;q=0.9",
            "application/json; charset=utf-8",
            "APPLICATION/JSON",
            "",
        ],
    )
    async def test_an_accept_that_admits_json_gets_json(
        self, api: httpx.AsyncClient, accept: str
    ) -> None:
        response = await api.get("/v1/clients", headers={"Accept": accept})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"

    async def test_no_accept_header_gets_json(self, api: httpx.AsyncClient) -> None:
        request = api.build_request("GET", "/v1/clients")
        del request.headers["accept"]
        response = await api.send(request)
        assert response.status_code == 200

    @pytest.mark.parametrize(
        "accept", ["application/xml", "text/html", "text/*", "application/json;q=0", "image/png"]
    )
    async def test_an_accept_that_admits_no_json_is_406(
        self, api: httpx.AsyncClient, accept: str
    ) -> None:
        response = await api.get("/v1/clients", headers={"Accept": accept})
        assert response.status_code == 406
        assert response.headers["content-type"] == PROBLEM
        assert response.json()["type"] == "urn:tenure:problem:not-acceptable"

    @pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.label)
    async def test_every_operation_negotiates(
        self, api: httpx.AsyncClient, operation: Operation
    ) -> None:
        response = await operation.send(api, random_ids(), headers={"Accept": "application/xml"})
        assert response.status_code == 406, response.text

    async def test_metrics_still_answer_text(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/metrics", headers={"Accept": "text/plain"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/plain")

    async def test_docs_still_answer_html(self, http: httpx.AsyncClient) -> None:
        response = await http.get("/docs", headers={"Accept": "text/html"})
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")


class TestUnexpectedErrors:
    @pytest.fixture
    async def failing_app(self, default_settings: Settings) -> AsyncIterator[FastAPI]:
        app = create_app(default_settings)

        @app.get("/boom")
        async def boom() -> None:
            raise RuntimeError("boom")

        yield app
        await app.state.engine.dispose()

    async def test_an_unexpected_error_is_a_500_problem_the_server_never_sees(
        self, failing_app: FastAPI, caplog: pytest.LogCaptureFixture
    ) -> None:
        """The exception stays inside the app: re-raised to uvicorn, it would drop the
        keep-alive connection after the answer (httpx re-raises it here by default)."""
        transport = httpx.ASGITransport(app=failing_app, raise_app_exceptions=True)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            with caplog.at_level(logging.ERROR):
                response = await http.get("/boom", headers={"X-Request-ID": "req-1"})
        assert response.status_code == 500
        assert response.headers["content-type"] == PROBLEM
        assert response.headers["x-request-id"] == "req-1"
        assert response.json()["instance"] == "/boom"
        assert "boom" in caplog.text
