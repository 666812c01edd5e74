"""Idempotency-Key on POST: replays the stored response; a different body under a key is 422."""

import asyncio
import time
import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem
from app.domain.idempotency import Decision, fingerprint, is_valid_key
from app.services import idempotency

REPLAYED_HEADERS = ("content-type", "etag", "location")
IN_PROGRESS_WAIT_SECONDS = 5.0
"""How long a request waits for an identical one that holds its key before answering 409."""


class IdempotencyMiddleware:
    def __init__(self, app: ASGIApp, ttl: timedelta) -> None:
        self.app = app
        self.ttl = ttl

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A lifespan (or websocket) scope has no headers: pass it on before touching any.
        if scope["type"] != "http" or scope["method"] != "POST":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        key = headers.get("idempotency-key")
        authorization = headers.get("authorization", "")
        if key is None:
            await self.app(scope, receive, send)
            return
        if not is_valid_key(key):
            await problem(
                400,
                "Idempotency-Key must be 1 to 255 printable characters",
                slug="invalid-idempotency-key",
            )(scope, receive, send)
            return
        scheme, _, secret = authorization.partition(" ")
        try:
            body = await _read_body(receive)
        except HTTPException as exc:  # the body cap, raised while reading
            await problem(exc.status_code, exc.detail)(scope, receive, send)
            return
        replay_receive = _replaying(body)
        sessionmaker: async_sessionmaker[AsyncSession] = scope["app"].state.sessionmaker
        async with sessionmaker() as session:
            api_key_id = (
                await idempotency.api_key_id_for(session, secret.strip())
                if scheme.lower() == "bearer" and secret.strip()
                else None
            )
        if api_key_id is None:  # the route answers 401 itself
            await self.app(scope, replay_receive, send)
            return
        print_ = fingerprint("POST", scope["path"], scope.get("query_string", b"").decode(), body)
        claim = await self._claim(sessionmaker, api_key_id, key, print_)
        if claim.decision is Decision.MISMATCH:
            await problem(
                422,
                "this Idempotency-Key was used with a different request",
                slug="idempotency-key-reused",
            )(scope, receive, send)
            return
        if claim.decision is Decision.IN_PROGRESS:
            await problem(
                409,
                "a request with this Idempotency-Key is still being processed",
                slug="idempotency-key-in-use",
            )(scope, receive, send)
            return
        if claim.decision is Decision.REPLAY:
            await _send_stored(send, claim.status or 200, claim.headers or {}, claim.body or b"")
            return
        record_id = claim.record_id
        assert record_id is not None
        status = 500
        stored_headers: dict[str, str] = {}
        captured = bytearray()
        settled = False

        async def settle(complete: bool) -> None:
            nonlocal settled
            settled = True
            async with sessionmaker.begin() as session:
                if complete and status < 500:
                    await idempotency.complete(
                        session, record_id, status, stored_headers, bytes(captured)
                    )
                else:  # a server error, or no complete answer: nothing to replay
                    await idempotency.release(session, record_id)

        async def storing_send(message: Message) -> None:
            nonlocal status, stored_headers
            if message["type"] == "http.response.start":
                status = message["status"]
                response_headers = Headers(raw=message.get("headers", []))
                stored_headers = {
                    name: response_headers[name]
                    for name in REPLAYED_HEADERS
                    if name in response_headers
                }
            elif message["type"] == "http.response.body":
                captured.extend(message.get("body", b""))
                if not message.get("more_body", False):
                    # Stored before the answer completes: a retry sent the moment the client
                    # has it must find the response to replay, not a key still in progress.
                    await settle(complete=True)
            await send(message)

        try:
            await self.app(scope, replay_receive, storing_send)
        finally:
            if not settled:
                await settle(complete=False)

    async def _claim(
        self,
        sessionmaker: async_sessionmaker[AsyncSession],
        api_key_id: uuid.UUID,
        key: str,
        print_: str,
    ) -> idempotency.Claim:
        """Claims the key. While an identical request holds it, waits a bounded time for that
        one's answer, so that a client retrying at once gets the replay rather than a 409."""
        deadline = time.monotonic() + IN_PROGRESS_WAIT_SECONDS
        pause = 0.01
        while True:
            try:
                async with sessionmaker.begin() as session:
                    claim = await idempotency.claim(
                        session, api_key_id, key, print_, datetime.now(UTC), self.ttl
                    )
            except idempotency.KeyTaken:
                claim = idempotency.Claim(Decision.IN_PROGRESS)
            left = deadline - time.monotonic()
            if claim.decision is not Decision.IN_PROGRESS or left <= 0:
                return claim
            await asyncio.sleep(min(pause, left))
            pause = min(pause * 2, 0.2)


async def _read_body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replaying(body: bytes) -> Receive:
    sent = False

    async def receive() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return {"type": "http.disconnect"}

    return receive


async def _send_stored(send: Send, status: int, headers: dict[str, str], body: bytes) -> None:
    raw = [(k.encode(), v.encode()) for k, v in headers.items()]
    raw += [(b"idempotent-replayed", b"true"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": raw})
    await send({"type": "http.response.body", "body": body})
