"""`tenure worker`: refuses without Redis, and `--check` tells a live worker from none."""

import asyncio
import os
import subprocess
import sys
from pathlib import Path

from tests.workers.conftest import PROJECT_ROOT, PrivateRedis, WorkerProcesses, wait_until

TENURE = [str(Path(sys.executable).parent / "tenure")]


def _run(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
    return subprocess.run(
        [*TENURE, *args],
        env={**environment, **env},
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_without_redis_the_worker_exits_2_and_says_why() -> None:
    result = _run("worker")
    assert result.returncode == 2
    assert "TENURE_REDIS_URL" in result.stderr


def test_check_fails_when_redis_is_unreachable(private_redis: PrivateRedis) -> None:
    url = private_redis.url
    private_redis.stop()
    result = _run("worker", "--check", TENURE_REDIS_URL=url)
    assert result.returncode == 1
    assert "unreachable" in result.stderr


async def test_check_is_1_with_no_worker_and_0_with_one(
    private_redis: PrivateRedis, workers: WorkerProcesses
) -> None:
    url = private_redis.url
    assert (
        await asyncio.to_thread(_run, "worker", "--check", TENURE_REDIS_URL=url)
    ).returncode == 1

    workers.start(url)

    async def healthy() -> bool:
        result = await asyncio.to_thread(_run, "worker", "--check", TENURE_REDIS_URL=url)
        return result.returncode == 0

    await wait_until(healthy, seconds=30, explain=workers.logs)
