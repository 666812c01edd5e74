"""What every job finds in arq's ctx: settings and a session factory for its own unit of work."""

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from app.config import Settings
from app.db.session import create_engine, create_sessionmaker


async def on_startup(ctx: dict[str, Any]) -> None:
    settings: Settings = ctx["settings"]
    engine = create_engine(settings.database_url)
    ctx["engine"] = engine
    ctx["sessionmaker"] = create_sessionmaker(engine)


async def on_shutdown(ctx: dict[str, Any]) -> None:
    engine = ctx.get("engine")
    if engine is not None:
        await engine.dispose()


def sessionmaker(ctx: dict[str, Any]) -> async_sessionmaker[AsyncSession]:
    maker: async_sessionmaker[AsyncSession] = ctx["sessionmaker"]
    return maker
