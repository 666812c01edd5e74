"""Idempotency-Key on POST: replays the stored response; a different body under a key is 422."""

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from starlette.datastructures import Headers
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.api.problems import problem
from app.domain.idempotency import Decision, fingerprint, is_valid_key
from app.services import idempotency

REPLAYED_HEADERS = ("content-type", "etag", "location")


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
            print_ = fingerprint(
                "POST", scope["path"], scope.get("query_string", b"").decode(), body
            )
            claim = await idempotency.claim(
                session, api_key_id, key, print_, datetime.now(UTC), self.ttl
            )
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
        assert claim.record_id is not None
        captured: dict[str, Any] = {"status": 500, "headers": {}, "body": bytearray()}

        async def capturing_send(message: Message) -> None:
            if message["type"] == "http.response.start":
                captured["status"] = message["status"]
                response_headers = Headers(raw=message.get("headers", []))
                captured["headers"] = {
                    name: response_headers[name]
                    for name in REPLAYED_HEADERS
                    if name in response_headers
                }
            elif message["type"] == "http.response.body":
                captured["body"].extend(message.get("body", b""))
            await send(message)

        try:
            await self.app(scope, replay_receive, capturing_send)
        finally:
            async with sessionmaker() as session:
                if captured["status"] >= 500:
                    await idempotency.release(session, claim.record_id)
                else:
                    await idempotency.complete(
                        session,
                        claim.record_id,
                        captured["status"],
                        captured["headers"],
                        bytes(captured["body"]),
                    )


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
