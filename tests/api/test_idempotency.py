import asyncio
import json
from collections.abc import AsyncIterator, MutableMapping
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from app.api import idempotency as middleware
from app.domain.idempotency import fingerprint
from app.services import idempotency
from tests.factories import Workspace, create_client


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


class AnsweredAtTheLastBody:
    """Calls the app as a server does: the caller has its answer as soon as the last body
    message is sent, while that send and the rest of the app's call may still be running
    (their tasks are awaited at `close`)."""

    drain_seconds = 0.03

    def __init__(self, app: FastAPI, key: str) -> None:
        self.app = app
        self.key = key
        self.running: list[asyncio.Task[None]] = []

    async def post(self, path: str, body: bytes, idempotency_key: str) -> httpx.Response:
        answered: asyncio.Future[httpx.Response] = asyncio.get_running_loop().create_future()
        start: dict[str, Any] = {}
        chunks: list[bytes] = []
        headers = [
            (b"authorization", f"Bearer {self.key}".encode()),
            (b"content-type", b"application/json"),
            (b"content-length", str(len(body)).encode()),
            (b"idempotency-key", idempotency_key.encode()),
        ]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": headers,
            "client": ("127.0.0.1", 50000),
            "server": ("tenure.test", 80),
            "state": {},
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop()
            await asyncio.Event().wait()  # no disconnect while the app runs
            raise AssertionError("unreachable")

        async def send(message: MutableMapping[str, Any]) -> None:
            if message["type"] == "http.response.start":
                start.update(message)
            elif message["type"] == "http.response.body":
                chunks.append(message.get("body", b""))
                if not message.get("more_body", False):
                    answered.set_result(
                        httpx.Response(
                            start["status"], headers=start["headers"], content=b"".join(chunks)
                        )
                    )
                    # The client has the bytes while the server's write is still draining.
                    await asyncio.sleep(self.drain_seconds)

        async def call() -> None:
            await self.app(scope, receive, send)

        self.running.append(asyncio.create_task(call()))
        return await asyncio.wait_for(answered, timeout=10)

    async def close(self) -> None:
        await asyncio.gather(*self.running)


@pytest.fixture
async def server_like(app: FastAPI, workspace: Workspace) -> AsyncIterator[AnsweredAtTheLastBody]:
    caller = AnsweredAtTheLastBody(app, workspace.admin_key)
    yield caller
    await caller.close()


class TestRetriesRightAfterTheAnswer:
    async def test_fifty_back_to_back_retries_are_all_replays(
        self, server_like: AnsweredAtTheLastBody, api: httpx.AsyncClient
    ) -> None:
        body = json.dumps({"name": "Vandelay Industries"}).encode()
        first = await server_like.post("/v1/clients", body, "back-to-back")
        assert first.status_code == 201, first.text
        for attempt in range(50):
            retry = await server_like.post("/v1/clients", body, "back-to-back")
            assert retry.status_code == 201, (attempt, retry.text)
            assert retry.headers["Idempotent-Replayed"] == "true"
            assert retry.json()["id"] == first.json()["id"]
        listed = (await api.get("/v1/clients", params={"q": "Vandelay"})).json()
        assert len(listed["data"]) == 1

    async def test_concurrent_identical_requests_wait_for_the_first_and_get_its_answer(
        self, api: httpx.AsyncClient
    ) -> None:
        body = json.dumps({"name": "Pendant Publishing"})
        headers = {"Idempotency-Key": "together", "Content-Type": "application/json"}
        responses = await asyncio.gather(
            *(api.post("/v1/clients", content=body, headers=headers) for _ in range(5))
        )
        assert [r.status_code for r in responses] == [201] * 5, [r.text for r in responses]
        assert {r.json()["id"] for r in responses} == {responses[0].json()["id"]}
        replayed = [r.headers.get("Idempotent-Replayed") for r in responses]
        assert replayed.count("true") == 4

    async def test_a_key_held_longer_than_the_wait_is_409(
        self,
        app: FastAPI,
        workspace: Workspace,
        api: httpx.AsyncClient,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        monkeypatch.setattr(middleware, "IN_PROGRESS_WAIT_SECONDS", 0.3)
        body = b'{"name": "Kramerica"}'
        async with app.state.sessionmaker.begin() as session:  # a first request, still running
            held = await idempotency.claim(
                session,
                workspace.admin_key_id,
                "held",
                fingerprint("POST", "/v1/clients", "", body),
                datetime.now(UTC),
                timedelta(hours=24),
            )
        assert held.record_id is not None
        started = asyncio.get_running_loop().time()
        response = await api.post(
            "/v1/clients",
            content=body,
            headers={"Idempotency-Key": "held", "Content-Type": "application/json"},
        )
        assert response.status_code == 409
        assert response.json()["type"].endswith("idempotency-key-in-use")
        assert asyncio.get_running_loop().time() - started >= 0.3


class TestBodiesCompareAsJson:
    async def test_the_same_json_with_keys_in_another_order_is_a_replay(
        self, api: httpx.AsyncClient
    ) -> None:
        headers = {"Idempotency-Key": "reordered", "Content-Type": "application/json"}
        first = await api.post(
            "/v1/clients", content='{"name": "Globex", "tier": "mid"}', headers=headers
        )
        second = await api.post(
            "/v1/clients", content='{\n  "tier": "mid",\n  "name": "Globex"\n}', headers=headers
        )
        assert first.status_code == second.status_code == 201, second.text
        assert second.headers["Idempotent-Replayed"] == "true"
        assert second.json()["id"] == first.json()["id"]

    async def test_different_json_under_the_key_is_still_422(self, api: httpx.AsyncClient) -> None:
        headers = {"Idempotency-Key": "changed", "Content-Type": "application/json"}
        await api.post("/v1/clients", content='{"name": "Globex", "tier": "mid"}', headers=headers)
        other = await api.post(
            "/v1/clients", content='{"tier": "smb", "name": "Globex"}', headers=headers
        )
        assert other.status_code == 422
        assert other.json()["type"].endswith("idempotency-key-reused")
