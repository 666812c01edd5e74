"""Fixtures: one migrated database per run, emptied after every test; the app over httpx."""

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from app.config import Settings
from app.main import create_app
from tests.databases import backend, encryption_key_for_tests, migrate, throwaway_database, wipe
from tests.factories import Workspace, api_client, create_workspace


def pytest_report_header() -> str:
    return f"tenure database backend: {backend()}"


@pytest.fixture(scope="session")
async def database_url(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[str]:
    directory: Path = tmp_path_factory.mktemp("db")
    async with throwaway_database(directory) as url:
        await migrate(url)
        yield url


@pytest.fixture(scope="session")
def default_settings(database_url: str) -> Settings:
    return Settings(
        database_url=database_url, max_body_bytes=262_144, encryption_key=encryption_key_for_tests()
    )


@pytest.fixture
def settings(default_settings: Settings) -> Settings:
    """Override in a test class to run the app with other settings."""
    return default_settings


@pytest.fixture(scope="session")
async def shared_app(default_settings: Settings) -> AsyncIterator[FastAPI]:
    """One app for the run: FastAPI's first request on a new app costs tens of milliseconds."""
    application = create_app(default_settings)
    yield application
    await application.state.engine.dispose()


@pytest.fixture
async def app(
    settings: Settings, default_settings: Settings, shared_app: FastAPI
) -> AsyncIterator[FastAPI]:
    """The app over an empty database: every table is emptied after each test."""
    application = shared_app if settings == default_settings else create_app(settings)
    try:
        yield application
    finally:
        await wipe(application.state.engine)
        if application is not shared_app:
            await application.state.engine.dispose()


@pytest.fixture
async def http(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """An unauthenticated client; tests add `Authorization` per request or use `api`."""
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://tenure.test") as client:
        yield client


@pytest.fixture
async def workspace(app: FastAPI) -> Workspace:
    return await create_workspace(app, "Acme CS")


@pytest.fixture
async def api(app: FastAPI, workspace: Workspace) -> AsyncIterator[httpx.AsyncClient]:
    """A client authenticated with the workspace's admin key."""
    async with api_client(app, workspace.admin_key) as client:
        yield client
