"""Throwaway databases for the suite: a SQLite file, or a fresh PostgreSQL database per run."""

import os
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import sqlalchemy as sa
from pydantic import SecretStr
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.db.base import Base
from app.db.migrate import upgrade_on
from app.db.session import create_engine

POSTGRES_URL = os.environ.get("TENURE_TEST_DATABASE_URL")


TEST_ENCRYPTION_KEY = "dGVudXJlLXRlc3Qta2V5LW5vdC1mb3ItcHJvZHVjdGk="
"""A fixed Fernet key for PostgreSQL runs, which have no key file to fall back on."""


def backend() -> str:
    return "postgresql" if POSTGRES_URL else "sqlite"


def encryption_key_for_tests() -> SecretStr | None:
    """PostgreSQL needs a key from settings; SQLite runs keep the embedded key file."""
    return SecretStr(TEST_ENCRYPTION_KEY) if POSTGRES_URL else None


@asynccontextmanager
async def throwaway_database(directory: Path) -> AsyncIterator[str]:
    """Yields the URL of an empty database that is dropped afterwards."""
    if not POSTGRES_URL:
        yield f"sqlite+aiosqlite:///{directory / f'tenure_{uuid.uuid4().hex[:8]}.db'}"
        return
    admin_url = make_url(POSTGRES_URL)
    name = f"tenure_test_{uuid.uuid4().hex[:12]}"
    admin = create_async_engine(admin_url, isolation_level="AUTOCOMMIT")
    try:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        async with admin.connect() as conn:
            await conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        await admin.dispose()


async def migrate(url: str) -> None:
    engine = create_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(upgrade_on, url)
    finally:
        await engine.dispose()


async def wipe(engine: AsyncEngine) -> None:
    """Empties every table between tests, so no test sees another's rows."""
    tables = [t.name for t in reversed(Base.metadata.sorted_tables)]
    async with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            await conn.execute(sa.text(f"TRUNCATE {', '.join(tables)} CASCADE"))
        else:
            for table in tables:
                await conn.execute(sa.text(f"DELETE FROM {table}"))
