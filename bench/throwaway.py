"""The benchmarks' throwaway PostgreSQL databases: made for one run, dropped after it."""

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import URL


def admin_dsn(admin_url: URL) -> str:
    """asyncpg's plain `postgresql://` form of a SQLAlchemy URL."""
    return admin_url.set(drivername="postgresql").render_as_string(hide_password=False)


async def create_database(admin_url: URL, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn(admin_url))
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(admin_url: URL, name: str) -> None:
    conn = await asyncpg.connect(admin_dsn(admin_url))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()
