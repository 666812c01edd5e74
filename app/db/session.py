"""Engine and session factory; SQLite gets the pragmas that make it a real database."""

from pathlib import Path
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.pool import NullPool


def create_engine(
    database_url: str, *, pooled: bool = True, pre_ping: bool = True, pool_size: int = 10
) -> AsyncEngine:
    """`pooled=False` opens a connection per session, for callers that hop event loops;
    `pre_ping=False` saves a round trip per checkout where a failed call is retried anyway
    (the worker: a job that hits a dead connection fails its attempt and runs again);
    `pool_size` should cover the connections in use at once, or overflow ones are opened and
    closed again on every checkout."""
    url = make_url(database_url)
    pool: dict[str, Any] = {} if pooled else {"poolclass": NullPool}
    if url.get_backend_name() == "sqlite":
        if url.database and url.database != ":memory:":
            Path(url.database).parent.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, connect_args={"timeout": 30}, **pool)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    if pooled:
        pool = {"pool_pre_ping": pre_ping, "pool_size": pool_size, "max_overflow": 10}
    return create_async_engine(url, **pool)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=30000")
    cursor.close()


def create_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False, autoflush=False)
