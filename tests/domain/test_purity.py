"""The domain is pure: importing it loads no web, database, HTTP, queue or validation library."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

import app.domain

DOMAIN = Path(app.domain.__file__).parent
MODULES = sorted(f"app.domain.{p.stem}" for p in DOMAIN.glob("*.py") if p.stem != "__init__")
FORBIDDEN = (
    "fastapi",
    "starlette",
    "pydantic",
    "pydantic_core",
    "pydantic_settings",
    "sqlalchemy",
    "alembic",
    "aiosqlite",
    "asyncpg",
    "httpx",
    "httpcore",
    "requests",
    "arq",
    "redis",
    "strawberry",
    "uvicorn",
    "typer",
    "app.api",
    "app.db",
    "app.services",
    "app.workers",
    "app.config",
)
PROBE = """
import importlib, json, sys
for name in sys.argv[1:]:
    importlib.import_module(name)
print(json.dumps(sorted(sys.modules)))
"""


def loaded_after_importing(*modules: str) -> set[str]:
    """Imports in a fresh interpreter, so nothing this test run loaded can hide a leak."""
    result = subprocess.run(
        [sys.executable, "-c", PROBE, *modules],
        capture_output=True,
        text=True,
        check=True,
        cwd=DOMAIN.parents[1],
    )
    return set(json.loads(result.stdout))


def offenders(loaded: set[str]) -> list[str]:
    return sorted(m for m in loaded if any(m == f or m.startswith(f"{f}.") for f in FORBIDDEN))


class TestDomainPurity:
    def test_the_domain_has_modules_to_check(self) -> None:
        assert "app.domain.clients" in MODULES
        assert "app.domain.contracts" in MODULES

    def test_the_probe_would_notice_a_forbidden_import(self) -> None:
        assert "sqlalchemy" in offenders(loaded_after_importing("app.db.base"))

    @pytest.mark.parametrize("module", MODULES)
    def test_importing_the_module_loads_no_infrastructure(self, module: str) -> None:
        assert offenders(loaded_after_importing(module)) == []

    def test_importing_the_whole_domain_loads_no_infrastructure(self) -> None:
        assert offenders(loaded_after_importing(*MODULES)) == []
