"""Alembic is the only way the schema is made: it must round-trip and match the models."""

import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy.engine import Connection

from app.db.base import Base
from app.db.migrate import downgrade_on, upgrade_on
from app.db.models import Scorecard, ScorecardVersion, Workspace
from app.db.session import create_engine
from app.domain.scorecard_documents import to_document
from app.domain.scorecards import DEFAULT_SCORECARD
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

    async def test_a_workspace_without_a_scorecard_gets_the_default(self, tmp_path: Path) -> None:
        async with throwaway_database(tmp_path) as url:
            engine = create_engine(url)
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(upgrade_on, url, "0005")
                    workspace_id = uuid.uuid4()
                    now = datetime.now(UTC)
                    await conn.execute(
                        sa.insert(Workspace).values(
                            id=workspace_id,
                            name="Old",
                            tiers=[],
                            lifecycle_stages=[],
                            version=1,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    await conn.run_sync(upgrade_on, url)
                    names = await conn.execute(
                        sa.select(Scorecard.name, ScorecardVersion.definition)
                        .join(ScorecardVersion, ScorecardVersion.scorecard_id == Scorecard.id)
                        .where(Scorecard.workspace_id == workspace_id)
                    )
                    rows = names.all()
            finally:
                await engine.dispose()
        assert rows == [(DEFAULT_SCORECARD.name, to_document(DEFAULT_SCORECARD))]
