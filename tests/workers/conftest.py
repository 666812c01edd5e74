"""Real Redis for worker tests: a database number of our own, flushed around each test."""

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from arq import create_pool
from arq.connections import ArqRedis
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from app.workers.job import Registry
from app.workers.redis import redis_settings
from tests.factories import api_client

REDIS_URL = os.environ.get("TENURE_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    settings = redis_settings(REDIS_URL, outage_seconds=0)
    settings.conn_retries = 0
    try:
        pool = await create_pool(settings)
    except Exception as exc:
        pytest.skip(f"no Redis at {REDIS_URL}: {exc}")
    await pool.flushdb()
    yield REDIS_URL
    await pool.flushdb()
    await pool.aclose()


@pytest.fixture
async def arq_pool(redis_url: str) -> AsyncIterator[ArqRedis]:
    pool = await create_pool(redis_settings(redis_url))
    yield pool
    await pool.aclose()


@dataclass
class PrivateRedis:
    """A redis-server of the test's own, on its own port, that a test may stop and start."""

    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                REDIS_SERVER or "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", self.port)) == 0:
                    return
            time.sleep(0.05)
        raise RuntimeError("redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.kill()
            self.process.wait()
            self.process = None


REDIS_SERVER = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if Path("/usr/bin/redis-server").exists() else None
)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    if REDIS_SERVER is None:
        pytest.skip("redis-server is not installed")
    server = PrivateRedis(port=_free_port(), directory=tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class WorkerProcesses:
    """Real `tenure worker` processes (with the probe jobs) on the test database."""

    database_url: str
    directory: Path
    started: list[subprocess.Popen[bytes]] = field(default_factory=list)

    def start(self, redis_url: str, registry: str = "probe") -> subprocess.Popen[bytes]:
        env = {
            **os.environ,
            "TENURE_DATABASE_URL": self.database_url,
            "TENURE_REDIS_URL": redis_url,
            "TENURE_OUTBOX_STALE_SECONDS": "2",
            "TENURE_RELAY_POLL_SECONDS": "0.2",
            "TENURE_SHUTDOWN_GRACE_SECONDS": "1",
            "TENURE_LOG_LEVEL": os.environ.get("TENURE_TEST_WORKER_LOG_LEVEL", "WARNING"),
        }
        log = open(self.directory / f"worker-{len(self.started)}.log", "wb")  # noqa: SIM115
        process = subprocess.Popen(
            [sys.executable, "-m", "tests.workers.worker_process", registry],
            env=env,
            cwd=PROJECT_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        self.started.append(process)
        return process

    def stop_all(self) -> None:
        for process in self.started:
            if process.poll() is None:
                process.kill()
            process.wait()

    def logs(self) -> str:
        return "\n".join(p.read_text() for p in sorted(self.directory.glob("worker-*.log")))


PROJECT_ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def workers(database_url: str, tmp_path: Path) -> Iterator[WorkerProcesses]:
    processes = WorkerProcesses(database_url, tmp_path)
    try:
        yield processes
    finally:
        processes.stop_all()


async def wait_until(
    check: Callable[[], Awaitable[bool]], *, seconds: float, explain: Callable[[], str] = str
) -> None:
    """Polls `check` until it holds; fails with `explain()` (worker logs, say) otherwise."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if await check():
            return
        await asyncio.sleep(0.1)
    pytest.fail(f"not within {seconds} s\n{explain()}")


@asynccontextmanager
async def api_in_arq_mode(
    database_url: str, redis_url: str, key: str
) -> AsyncIterator[httpx.AsyncClient]:
    """An API process as production runs it beside workers: its lifespan relays to arq."""
    application = create_app(Settings(database_url=database_url, redis_url=redis_url))
    async with (
        application.router.lifespan_context(application),
        api_client(application, key) as api,
    ):
        yield api


@pytest.fixture
def embedded_registry() -> Registry | None:
    """The jobs the `embedded` app runs: the real ones; a module may override this."""
    return None


@pytest.fixture
async def embedded(
    database_url: str, app: FastAPI, embedded_registry: Registry | None
) -> AsyncIterator[FastAPI]:
    """A second app on the test database whose lifespan runs the embedded runner."""
    settings = Settings(database_url=database_url, redis_url=None, relay_poll_seconds=0.2)
    application = create_app(settings, registry=embedded_registry)
    async with application.router.lifespan_context(application):
        yield application
