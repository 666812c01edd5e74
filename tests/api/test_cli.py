"""The installed `tenure` console script, run as a process against a fresh SQLite file."""

import json
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from tests.factories import auth

TENURE = Path(sys.executable).parent / "tenure"


@dataclass(frozen=True)
class Cli:
    """The console script with its own database and working directory."""

    directory: Path
    database_url: str

    def run(self, *args: str) -> subprocess.CompletedProcess[str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TENURE_")}
        env["TENURE_DATABASE_URL"] = self.database_url
        return subprocess.run(
            [str(TENURE), *args],
            cwd=self.directory,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def json(self, *args: str) -> dict[str, Any]:
        done = self.run(*args)
        assert done.returncode == 0, done.stderr
        data: dict[str, Any] = json.loads(done.stdout)
        return data


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(directory=tmp_path, database_url=f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}")


@pytest.fixture
def created(cli: Cli) -> dict[str, Any]:
    """The output of `tenure workspace create "Acme CS"`."""
    return cli.json("workspace", "create", "Acme CS")


@pytest.fixture
def read_write_key(cli: Cli, created: dict[str, Any]) -> dict[str, Any]:
    """The output of `tenure api-key create --workspace <id> --scopes read,write`."""
    workspace_id = created["workspace_id"]
    return cli.json("api-key", "create", "--workspace", workspace_id, "--scopes", "read,write")


@asynccontextmanager
async def served(cli: Cli) -> AsyncIterator[httpx.AsyncClient]:
    """The API over the database the CLI wrote to."""
    app = create_app(Settings(database_url=cli.database_url))
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://tenure.test") as http:
            yield http
    finally:
        await app.state.engine.dispose()


def test_the_console_script_is_installed_in_the_venv() -> None:
    assert TENURE.is_file(), f"{TENURE} is missing; reinstall the project"


class TestWorkspaceCreate:
    def test_prints_the_workspace_id_and_an_admin_key(self, created: dict[str, Any]) -> None:
        assert set(created) == {"workspace_id", "api_key"}
        uuid.UUID(created["workspace_id"])
        assert created["api_key"].startswith("tnr_")

    def test_each_workspace_gets_its_own_id_and_key(
        self, cli: Cli, created: dict[str, Any]
    ) -> None:
        second = cli.json("workspace", "create", "Globex CS")
        assert second["workspace_id"] != created["workspace_id"]
        assert second["api_key"] != created["api_key"]

    async def test_the_key_reads_that_workspace(self, cli: Cli, created: dict[str, Any]) -> None:
        async with served(cli) as http:
            response = await http.get("/v1/workspace", headers=auth(created["api_key"]))
        assert response.status_code == 200, response.text
        assert response.json()["id"] == created["workspace_id"]
        assert response.json()["name"] == "Acme CS"

    async def test_the_key_is_an_admin_key(self, cli: Cli, created: dict[str, Any]) -> None:
        async with served(cli) as http:
            response = await http.get("/v1/api-keys", headers=auth(created["api_key"]))
        assert response.status_code == 200, response.text
        assert [k["scopes"] for k in response.json()["data"]] == [["admin"]]

    @pytest.mark.parametrize("name", ["", "   ", "x" * 201])
    def test_a_blank_or_overlong_name_exits_non_zero_with_a_message(
        self, name: str, cli: Cli
    ) -> None:
        done = cli.run("workspace", "create", name)
        assert done.returncode != 0
        assert "name" in done.stderr
        assert "tnr_" not in done.stdout


class TestApiKeyCreate:
    def test_prints_a_key_with_the_requested_scopes(
        self, created: dict[str, Any], read_write_key: dict[str, Any]
    ) -> None:
        assert read_write_key["scopes"] == ["read", "write"]
        assert read_write_key["workspace_id"] == created["workspace_id"]
        assert read_write_key["api_key"].startswith("tnr_")
        assert read_write_key["api_key"] != created["api_key"]
        uuid.UUID(read_write_key["id"])

    def test_an_unknown_scope_exits_non_zero_with_a_message(
        self, cli: Cli, created: dict[str, Any]
    ) -> None:
        done = cli.run(
            "api-key", "create", "--workspace", created["workspace_id"], "--scopes", "read,root"
        )
        assert done.returncode != 0
        assert "unknown scope" in done.stderr
        assert "tnr_" not in done.stdout

    def test_an_unknown_workspace_exits_non_zero_with_a_message(
        self, cli: Cli, created: dict[str, Any]
    ) -> None:
        done = cli.run("api-key", "create", "--workspace", str(uuid.uuid4()), "--scopes", "read")
        assert done.returncode != 0
        assert "workspace not found" in done.stderr
        assert "tnr_" not in done.stdout

    @pytest.mark.parametrize("name", ["", "   ", "k" * 201])
    def test_a_blank_or_overlong_key_name_exits_non_zero_with_a_message(
        self, name: str, cli: Cli, created: dict[str, Any]
    ) -> None:
        done = cli.run("api-key", "create", "--workspace", created["workspace_id"], "--name", name)
        assert done.returncode != 0
        assert "name" in done.stderr
        assert "tnr_" not in done.stdout

    async def test_the_key_lists_clients(self, cli: Cli, read_write_key: dict[str, Any]) -> None:
        key = read_write_key
        async with served(cli) as http:
            response = await http.get("/v1/clients", headers=auth(key["api_key"]))
        assert response.status_code == 200, response.text
        assert response.json()["data"] == []

    async def test_the_key_holds_only_its_scopes(
        self, cli: Cli, read_write_key: dict[str, Any]
    ) -> None:
        key = read_write_key
        async with served(cli) as http:
            response = await http.get("/v1/api-keys", headers=auth(key["api_key"]))
        assert response.status_code == 403, response.text


class TestExportOpenapi:
    def test_writes_a_document_with_the_clients_path(self, cli: Cli) -> None:
        output = cli.directory / "out" / "openapi.json"
        done = cli.run("export-openapi", "--output", str(output))
        assert done.returncode == 0, done.stderr
        document = json.loads(output.read_text())
        assert document["openapi"].startswith("3.")
        assert "/v1/clients" in document["paths"]
        assert document["info"]["title"] == "Tenure"


class TestSeedDemo:
    async def test_fills_a_new_workspace_readable_with_the_printed_key(self, cli: Cli) -> None:
        seeded = cli.json("seed-demo", "--clients", "6", "--days", "30")
        assert seeded["clients"] == 6
        assert seeded["events"] > 0
        async with served(cli) as http:
            headers = auth(seeded["api_key"])
            clients = (await http.get("/v1/clients", headers=headers)).json()
            events = (await http.get("/v1/events", params={"limit": 100}, headers=headers)).json()
        assert len(clients["data"]) == 6
        assert events["data"]
        assert {e["client_id"] for e in events["data"]} <= {c["id"] for c in clients["data"]}

    def test_seeds_an_existing_workspace(self, cli: Cli, created: dict[str, Any]) -> None:
        seeded = cli.json(
            "seed-demo", "--clients", "3", "--days", "10", "--workspace", created["workspace_id"]
        )
        assert seeded["workspace_id"] == created["workspace_id"]
        assert seeded["clients"] == 3
