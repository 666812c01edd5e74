"""Real Redis for worker tests: a database number of our own, flushed around each test."""

import os
from collections.abc import AsyncIterator

import pytest
from arq import create_pool
from arq.connections import ArqRedis

from app.workers.settings import redis_settings

REDIS_URL = os.environ.get("TENURE_TEST_REDIS_URL", "redis://127.0.0.1:6379/9")


@pytest.fixture
async def redis_url() -> AsyncIterator[str]:
    settings = redis_settings(REDIS_URL)
    settings.conn_retries = 0
    try:
        pool = await create_pool(settings)
    except OSError as exc:
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
