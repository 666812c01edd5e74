"""The whole app driven with a real ASGI `lifespan` scope, as uvicorn drives it: every
middleware sees that scope first. (`router.lifespan_context` skips the middleware stack, so
it cannot catch a middleware that breaks startup and leaves the background runner dead.)"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from starlette.types import ASGIApp, Message

from app.config import Settings
from app.main import create_app
from tests.factories import Workspace, api_client
from tests.workers.conftest import wait_until

ANSWER_SECONDS = 10.0


@asynccontextmanager
async def asgi_lifespan(app: ASGIApp) -> AsyncIterator[None]:
    """Sends `lifespan.startup`, yields, then sends `lifespan.shutdown`; fails unless each is
    answered with its `.complete` message (and with the app's error if it raised one)."""
    to_app: asyncio.Queue[Message] = asyncio.Queue()
    from_app: asyncio.Queue[Message] = asyncio.Queue()
    scope: dict[str, Any] = {"type": "lifespan", "asgi": {"version": "3.0"}, "state": {}}

    async def run() -> None:
        await app(scope, to_app.get, from_app.put)

    running = asyncio.create_task(run())

    async def answer() -> Message:
        waiting = asyncio.ensure_future(from_app.get())
        done, _ = await asyncio.wait(
            {waiting, running}, timeout=ANSWER_SECONDS, return_when=asyncio.FIRST_COMPLETED
        )
        if waiting in done:
            return waiting.result()
        waiting.cancel()
        if running in done:
            running.result()  # the app's own error, if it raised one
            raise AssertionError("the app ended its lifespan without answering")
        raise AssertionError(f"no lifespan answer within {ANSWER_SECONDS} s")

    await to_app.put({"type": "lifespan.startup"})
    started = await answer()
    assert started["type"] == "lifespan.startup.complete", started
    try:
        yield
    finally:
        await to_app.put({"type": "lifespan.shutdown"})
        stopped = await answer()
        assert stopped["type"] == "lifespan.shutdown.complete", stopped
        await asyncio.wait_for(running, ANSWER_SECONDS)


class TestLifespanThroughTheMiddleware:
    async def test_startup_completes_and_the_embedded_runner_runs_the_jobs(
        self, database_url: str, app: FastAPI, workspace: Workspace
    ) -> None:
        application = create_app(
            Settings(database_url=database_url, redis_url=None, relay_poll_seconds=0.2)
        )
        async with asgi_lifespan(application), api_client(application, workspace.admin_key) as api:
            created = await api.post("/v1/clients", json={"name": "Lifespan Co"})
            assert created.status_code == 201, created.text

            async def evaluated() -> bool:
                page = (await api.get("/v1/jobs", params={"kind": "clients.changed"})).json()
                return bool(page["data"]) and all(
                    job["status"] == "succeeded" for job in page["data"]
                )

            await wait_until(evaluated, seconds=10)
            history = await api.get(f"/v1/clients/{created.json()['id']}/health/history")
            assert history.json()["data"], "the job ran but stored no score"
