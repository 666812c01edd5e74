"""Property-based conformance: every operation, generated inputs, schemathesis' default checks."""

import asyncio
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import settings
from schemathesis.core.failures import AcceptedNegativeData, Failure, FailureGroup
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.config import Settings
from app.db.session import create_engine, create_sessionmaker
from app.main import create_app
from app.services.workspaces import create_workspace
from tests.databases import encryption_key_for_tests, wipe


@pytest.fixture(scope="module")
def conformance_app(database_url: str) -> Iterator[tuple[FastAPI, str]]:
    """The app as it serves requests, on a pooled engine: schemathesis calls every application
    from one event loop thread of its own, where the pool's connections live. Without the
    embedded runner: schemathesis keeps an app's lifespan running until the process ends, and
    a runner left behind would take the outbox rows of every later test."""
    app = create_app(
        Settings(
            database_url=database_url,
            embedded_runner=False,
            encryption_key=encryption_key_for_tests(),
        )
    )
    setup = create_engine(database_url, pooled=False)

    async def make_key() -> str:
        async with create_sessionmaker(setup).begin() as session:
            _, issued = await create_workspace(session, "Conformance")
        return issued.secret

    key = asyncio.run(make_key())
    yield app, key
    asyncio.run(wipe(setup))


# The document does not depend on the database; each test then calls its own app instance.
# Fetching it runs the app's lifespan: without the embedded runner, which would schedule jobs
# into an in-memory database that has no tables.
schema = schemathesis.openapi.from_asgi(
    "/openapi.json",
    create_app(Settings(database_url="sqlite+aiosqlite:///:memory:", embedded_runner=False)),
)


# Derandomized: schemathesis still has false positives in negative testing (a string query
# parameter sent as `false`, or an array of strings, is "schema-violating" to it although the
# query string makes it a valid string; schemathesis issues #2900, #3056). A random seed made
# those surface at random in CI; a fixed one surfaces a problem when the API changes.
@schema.parametrize()
@settings(derandomize=True, database=None)
def test_api_conforms_to_its_openapi_document(
    case: Any, conformance_app: tuple[FastAPI, str]
) -> None:
    # positive_data_acceptance is left out on purpose: some schema-valid input breaks business
    # rules no JSON Schema can state (a tier the workspace does not define, an owner_id that
    # names nobody) and rightly gets 422. Every other default check runs.
    # The generated Authorization value is replaced by a real key, except when a negative case
    # left the header out on purpose: re-adding it would undo that case's negation.
    app, key = conformance_app
    removed = case.headers is None or "Authorization" not in case.headers
    try:
        case.call_and_validate(
            app=app,
            headers=None if removed else {"Authorization": f"Bearer {key}"},
            excluded_checks=[positive_data_acceptance],
        )
    except FailureGroup as group:
        real = [f for f in group.exceptions if not _string_array_false_positive(case, f)]
        if real:
            raise FailureGroup(real, str(group)) from group


STRING_ARRAY_NEGATION = re.compile(r"parameter `(\w+)` in query - violates `anyOf`")


def _string_array_false_positive(case: Any, failure: Failure) -> bool:
    """schemathesis issues #3056 and #2900 (fixes unreleased): a "negative" value for a
    repeatable string query parameter (`?type=`) serialises to a string, which is valid; so
    does a number or a boolean (`?kind=6.7e+267` is the text "6.7e+267" on the wire). Only that
    exact case is forgiven: the failure names one such parameter and every value sent is a
    scalar, so what the API received was a list of strings."""
    if not isinstance(failure, AcceptedNegativeData):
        return False
    match = STRING_ARRAY_NEGATION.search(failure.message)
    if match is None:
        return False
    name = match.group(1)
    spec = next(
        (p for p in case.operation.definition.raw.get("parameters", []) if p["name"] == name),
        None,
    )
    if spec is None:
        return False
    variants = spec["schema"].get("anyOf", [])
    is_string_array = any(
        v.get("type") == "array" and v.get("items", {}).get("type") == "string" for v in variants
    )
    sent = (case.query or {}).get(name)
    values = sent if isinstance(sent, list) else [sent]
    return is_string_array and all(isinstance(v, str | int | float | bool) for v in values)
