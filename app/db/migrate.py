"""Alembic is the only way the schema is made; these helpers run it from code."""

from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy.engine import Connection

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def alembic_config(database_url: str) -> Config:
    root = PROJECT_ROOT if (PROJECT_ROOT / "migrations").is_dir() else Path.cwd()
    config = Config(str(root / "alembic.ini"))
    config.set_main_option("script_location", str(root / "migrations"))
    config.set_main_option("sqlalchemy.url", database_url.replace("%", "%%"))
    return config


def upgrade(database_url: str, revision: str = "head") -> None:
    """From synchronous code (the CLI): Alembic drives its own event loop."""
    command.upgrade(alembic_config(database_url), revision)


def upgrade_on(connection: Connection, database_url: str, revision: str = "head") -> None:
    """Inside `AsyncConnection.run_sync`, for callers that already run an event loop."""
    config = alembic_config(database_url)
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


def downgrade_on(connection: Connection, database_url: str, revision: str = "base") -> None:
    config = alembic_config(database_url)
    config.attributes["connection"] = connection
    command.downgrade(config, revision)
