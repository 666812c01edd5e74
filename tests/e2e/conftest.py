"""The end-to-end tier: a throwaway database per test module, on the suite's backend."""

from collections.abc import AsyncIterator

import pytest

from tests.databases import throwaway_database


@pytest.fixture(scope="module")
async def module_database(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    """An empty database (SQLite file, or PostgreSQL when TENURE_TEST_DATABASE_URL is set);
    the started processes migrate it, as `tenure serve` does for users."""
    async with throwaway_database(tmp_path_factory.mktemp("e2e")) as url:
        yield url
