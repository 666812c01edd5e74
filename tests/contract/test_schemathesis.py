"""Property-based conformance: every operation, generated inputs, schemathesis' default checks."""

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.config import Settings
from app.db.session import create_engine
from app.main import create_app
from app.services.workspaces import create_workspace
from tests.databases import wipe


@pytest.fixture(scope="module")
def conformance_app(database_url: str) -> Iterator[tuple[FastAPI, str]]:
    """The app on an unpooled engine: schemathesis drives it from its own event loop."""
    engine = create_engine(database_url, pooled=False)
    app = create_app(Settings(database_url=database_url), engine=engine)

    async def make_key() -> str:
        async with app.state.sessionmaker() as session:
            _, issued = await create_workspace(session, "Conformance")
        return issued.secret

    key = asyncio.run(make_key())
    yield app, key
    asyncio.run(wipe(engine))


# The document does not depend on the database; each test then calls its own app instance.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json", create_app(Settings(database_url="sqlite+aiosqlite:///:memory:"))
)


@schema.parametrize()
def test_api_conforms_to_its_openapi_document(
    case: Any, conformance_app: tuple[FastAPI, str]
) -> None:
    # positive_data_acceptance is left out on purpose: some schema-valid input breaks business
    # rules no JSON Schema can state (a tier the workspace does not define, an owner_id that
    # names nobody) and rightly gets 422. Every other default check runs.
    app, key = conformance_app
    case.call_and_validate(
        app=app,
        headers={"Authorization": f"Bearer {key}"},
        excluded_checks=[positive_data_acceptance],
    )
