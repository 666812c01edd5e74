"""Alembic is the only way the schema is made: it must round-trip and match the models."""

from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from app.db.base import Base
from app.db.migrate import downgrade_on, upgrade_on
from app.db.session import create_engine
from tests.databases import throwaway_database


def _diff(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(sa.inspect(connection).get_table_names()) - {"alembic_version"}


class TestMigrations:
    async def test_upgrade_downgrade_upgrade_round_trips(self, tmp_path: Path) -> None:
        async with throwaway_database(tmp_path) as url:
            engine = create_engine(url)
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(upgrade_on, url)
                    assert await conn.run_sync(_tables) == set(Base.metadata.tables)
                    await conn.run_sync(downgrade_on, url)
                    assert await conn.run_sync(_tables) == set()
                    await conn.run_sync(upgrade_on, url)
                    assert await conn.run_sync(_tables) == set(Base.metadata.tables)
            finally:
                await engine.dispose()

    async def test_models_and_migrations_agree(self, tmp_path: Path) -> None:
        async with throwaway_database(tmp_path) as url:
            engine = create_engine(url)
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(upgrade_on, url)
                    differences = await conn.run_sync(_diff)
            finally:
                await engine.dispose()
        assert differences == []
