"""A provider fake's plumbing: serve an ASGI app on 127.0.0.1 in a thread of its own, and the
faults every fake can be told to produce (status codes, 429 with Retry-After, an outage for a
while, slow answers).

The server runs on its own event loop, so it answers whether the test is sync or async and
while the code under test blocks its own loop; subprocesses (`tenure worker`) reach it too."""

import asyncio
import threading
import time
from abc import ABC, abstractmethod
from collections import deque
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import Generic, Self, TypeVar

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp

M = TypeVar("M")


@dataclass
class ScriptedAnswer:
    status: int
    retry_after: str | None = None
    body: dict[str, object] | None = None


@dataclass
class Faults:
    """What the fake does instead of answering normally. Thread-safe: set from the test, read
    by the server's thread."""

    _scripted: deque[ScriptedAnswer] = field(default_factory=deque)
    _down_until: float = 0.0
    _down_status: int = 503
    delay_seconds: float = 0.0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def fail_next(
        self,
        count: int,
        status: int,
        *,
        retry_after: str | None = None,
        body: dict[str, object] | None = None,
    ) -> None:
        """The next `count` requests get `status` (with `Retry-After` when given)."""
        with self._lock:
            self._scripted.extend(ScriptedAnswer(status, retry_after, body) for _ in range(count))

    def down_for(self, seconds: float, status: int = 503) -> None:
        """Every request fails with `status` until `seconds` from now: an outage."""
        with self._lock:
            self._down_until = time.monotonic() + seconds
            self._down_status = status

    def recover(self) -> None:
        with self._lock:
            self._down_until = 0.0
            self._scripted.clear()
            self.delay_seconds = 0.0

    async def intercept(self, _request: Request) -> Response | None:
        """The faulty answer for this request, or None to answer normally."""
        if self.delay_seconds:
            await asyncio.sleep(self.delay_seconds)
        with self._lock:
            if time.monotonic() < self._down_until:
                return JSONResponse({"error": "unavailable"}, status_code=self._down_status)
            if not self._scripted:
                return None
            answer = self._scripted.popleft()
        headers = {"Retry-After": answer.retry_after} if answer.retry_after else None
        return JSONResponse(
            answer.body or {"error": f"scripted {answer.status}"},
            status_code=answer.status,
            headers=headers,
        )


class LocalServer:
    """Serves `app` on 127.0.0.1 (a free port) until stopped."""

    def __init__(self, app: ASGIApp) -> None:
        config = uvicorn.Config(
            app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", access_log=False
        )
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._server.run, daemon=True)
        self.base_url = ""

    def start(self) -> str:
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._server.started:
            if time.monotonic() > deadline or not self._thread.is_alive():
                raise RuntimeError("the fake server did not start")
            time.sleep(0.01)
        port = self._server.servers[0].sockets[0].getsockname()[1]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    def stop(self) -> None:
        self._server.should_exit = True
        self._thread.join(timeout=10)


@contextmanager
def serving(app: ASGIApp) -> Iterator[str]:
    """The base URL of `app`, served for the duration of the block."""
    server = LocalServer(app)
    try:
        yield server.start()
    finally:
        server.stop()


class FakeProvider(ABC):
    """A provider fake's shared plumbing: its faults, the lock its state is read under from both
    the test's and the server's threads, and its server, serving `app()` while entered."""

    def __init__(self) -> None:
        self.faults = Faults()
        self.base_url = ""
        self._lock = threading.Lock()
        self._server: LocalServer | None = None

    @abstractmethod
    def app(self) -> ASGIApp: ...

    def __enter__(self) -> Self:
        self._server = LocalServer(self.app())
        self.base_url = self._server.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        if self._server is not None:
            self._server.stop()


class FakeSender(FakeProvider, Generic[M]):
    """A fake that keeps every message it accepted, for the test to read back."""

    def __init__(self) -> None:
        super().__init__()
        self._received: list[M] = []

    @property
    def messages(self) -> list[M]:
        with self._lock:
            return list(self._received)

    def _keep(self, message: M) -> None:
        with self._lock:
            self._received.append(message)
