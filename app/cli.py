"""`tenure`: serve the API, migrate, manage workspaces and keys, export the contracts."""

import asyncio
import json
import signal
import sys
import uuid
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Annotated, TypeVar

import typer
from sqlalchemy.ext.asyncio import AsyncSession

from app.config import Settings, get_settings
from app.db import migrate as migrations
from app.db.session import create_engine, create_sessionmaker
from app.domain.api_keys import parse_scopes
from app.errors import AppError
from app.services import workspaces

T = TypeVar("T")

cli = typer.Typer(help="Tenure: a headless client-retention engine.", no_args_is_help=True)
workspace_cli = typer.Typer(help="Create and inspect workspaces.", no_args_is_help=True)
api_key_cli = typer.Typer(help="Create API keys.", no_args_is_help=True)
cli.add_typer(workspace_cli, name="workspace")
cli.add_typer(api_key_cli, name="api-key")

OPENAPI_PATH = Path("openapi") / "openapi.json"


@cli.command()
def serve(
    host: Annotated[str | None, typer.Option(help="Defaults to TENURE_HOST.")] = None,
    port: Annotated[int | None, typer.Option(help="Defaults to TENURE_PORT.")] = None,
) -> None:
    """Migrate the database (unless TENURE_AUTO_MIGRATE=false) and serve the API."""
    import uvicorn

    from app.logging import configure_logging
    from app.main import create_app

    settings = get_settings()
    configure_logging(settings.log_level)
    _require_encryption_key(settings)
    if settings.auto_migrate:
        migrations.upgrade(settings.database_url)
    with _exit_zero_after_stop_signal():
        uvicorn.run(
            create_app(settings),
            host=host or settings.host,
            port=port or settings.port,
            log_config=None,
            proxy_headers=True,
            lifespan="on",  # a failing startup stops the process instead of serving without jobs
        )


@contextmanager
def _exit_zero_after_stop_signal() -> Iterator[None]:
    """uvicorn shuts down gracefully on SIGTERM/SIGINT, then raises the signal again under
    the handlers it found: this one turns that into a clean exit (0), as the worker does."""

    def exit_cleanly(signum: int, frame: FrameType | None) -> None:
        raise SystemExit(0)

    previous = {s: signal.signal(s, exit_cleanly) for s in (signal.SIGTERM, signal.SIGINT)}
    try:
        yield
    finally:
        for signum, handler in previous.items():
            signal.signal(signum, handler)


@cli.command()
def worker(
    check: Annotated[bool, typer.Option("--check", help="Exit 0 if a worker is alive.")] = False,
) -> None:
    """Run the arq worker (needs TENURE_REDIS_URL); `--check` is its health probe."""
    from arq.worker import async_check_health
    from redis.exceptions import RedisError

    from app.logging import configure_logging
    from app.workers.redis import QUEUE_NAME, redis_settings
    from app.workers.settings import run_worker

    settings = get_settings()
    configure_logging(settings.log_level)
    if not settings.redis_url:
        typer.echo("error: TENURE_REDIS_URL is not set: the worker needs Redis", err=True)
        sys.exit(2)
    if check:
        probe = redis_settings(settings.redis_url, outage_seconds=0)
        probe.conn_retries = 0
        try:
            sys.exit(asyncio.run(async_check_health(probe, None, QUEUE_NAME)))
        except (OSError, RedisError) as exc:
            typer.echo(f"unhealthy: Redis is unreachable: {exc}", err=True)
            sys.exit(1)
    _require_encryption_key(settings)
    if settings.worker_metrics_port is not None:
        from prometheus_client import start_http_server

        start_http_server(settings.worker_metrics_port, addr=settings.host)
    asyncio.run(run_worker(settings))


def _require_encryption_key(settings: Settings) -> None:
    """Integration credentials are encrypted at rest: a process that cannot decrypt them must
    not start and fail every send later. The embedded mode makes its key file here."""
    from app.integrations.credentials import EncryptionKeyProblem, cipher_for

    try:
        cipher_for(settings)
    except EncryptionKeyProblem as exc:
        typer.echo(f"error: {exc}", err=True)
        sys.exit(2)


@cli.command()
def migrate(revision: Annotated[str, typer.Argument()] = "head") -> None:
    """Bring the database schema to a revision (default: the newest)."""
    migrations.upgrade(get_settings().database_url, revision)
    typer.echo(f"database at {revision}")


@cli.command("rotate-credentials")
def rotate_credentials() -> None:
    """Re-encrypt every integration's credentials under the first key of
    TENURE_ENCRYPTION_KEY; afterwards the keys after it may be removed."""
    from app.services.integrations import rotate_credentials as rotate

    settings = get_settings()
    _require_encryption_key(settings)

    async def run(session: AsyncSession) -> dict[str, int]:
        return {"rewritten": await rotate(session, settings)}

    typer.echo(json.dumps(_run_with_session(settings, run)))


@workspace_cli.command("create")
def workspace_create(name: Annotated[str, typer.Argument(help="The workspace's name.")]) -> None:
    """Create a workspace and print its id with an admin API key (shown once)."""

    async def run(session: AsyncSession) -> dict[str, str]:
        workspace, issued = await workspaces.create_workspace(session, name)
        return {"workspace_id": str(workspace.id), "api_key": issued.secret}

    typer.echo(json.dumps(_run_with_session(get_settings(), run)))


@api_key_cli.command("create")
def api_key_create(
    workspace: Annotated[uuid.UUID, typer.Option("--workspace", help="The workspace id.")],
    scopes: Annotated[str, typer.Option(help="Comma-separated: read, write, admin.")] = "read",
    name: Annotated[str, typer.Option(help="A label to recognise the key by.")] = "cli key",
) -> None:
    """Create an API key in a workspace and print it (shown once)."""
    parsed = parse_scopes(scopes)

    async def run(session: AsyncSession) -> dict[str, object]:
        issued = await workspaces.create_api_key(session, workspace, name, [str(s) for s in parsed])
        return {
            "id": str(issued.api_key.id),
            "workspace_id": str(workspace),
            "scopes": issued.api_key.scopes,
            "api_key": issued.secret,
        }

    typer.echo(json.dumps(_run_with_session(get_settings(), run)))


@cli.command("seed-demo")
def seed_demo(
    clients: Annotated[int, typer.Option(min=1, max=200_000, help="How many clients.")] = 200,
    days: Annotated[int, typer.Option(min=1, max=1_095, help="Days of event history.")] = 365,
    workspace: Annotated[
        uuid.UUID | None, typer.Option(help="Seed this workspace instead of a new one.")
    ] = None,
    seed: Annotated[int, typer.Option(help="Same seed, same book of business.")] = 20261122,
) -> None:
    """Fill a workspace with a synthetic book of business (healthy, declining, churning)."""
    from datetime import UTC, datetime

    from app.domain.api_keys import Principal, Scope
    from app.services.demo import seed_demo as seed_book

    async def run(session: AsyncSession) -> dict[str, object]:
        if workspace is None:
            created, issued = await workspaces.create_workspace(session, "Demo book of business")
            workspace_id = created.id
        else:
            workspace_id = workspace
            issued = await workspaces.create_api_key(session, workspace_id, "seed-demo", ["admin"])
        principal = Principal(workspace_id, issued.api_key.id, (Scope.ADMIN,))
        summary = await seed_book(
            session, principal, clients=clients, days=days, now=datetime.now(UTC), seed=seed
        )
        return {"workspace_id": str(workspace_id), "api_key": issued.secret, **vars(summary)}

    typer.echo(json.dumps(_run_with_session(get_settings(), run)))


@cli.command("export-openapi")
def export_openapi(
    output: Annotated[Path, typer.Option(help="Where to write the document.")] = OPENAPI_PATH,
) -> None:
    """Write the OpenAPI document that CI compares with the committed one."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render_openapi())
    typer.echo(f"wrote {output}")


def render_openapi() -> str:
    from app.main import create_app

    document = create_app(Settings(database_url="sqlite+aiosqlite:///:memory:")).openapi()
    return json.dumps(document, indent=2, sort_keys=True) + "\n"


def _run_with_session(settings: Settings, work: Callable[[AsyncSession], Awaitable[T]]) -> T:
    migrations.upgrade(settings.database_url)

    async def main() -> T:
        engine = create_engine(settings.database_url)
        try:
            async with create_sessionmaker(engine)() as session:
                result = await work(session)
                await session.commit()
                return result
        finally:
            await engine.dispose()

    try:
        return asyncio.run(main())
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)


def main() -> None:
    try:
        cli()
    except AppError as exc:
        typer.echo(f"error: {exc.detail}", err=True)
        sys.exit(2)
