"""0013: workspaces made before playbooks existed get the defaults a new workspace is made
with, and contracts already over are marked announced so no debrief floods in."""

import uuid
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.config import Settings
from app.db.migrate import upgrade_on
from app.db.models import Cadence, Client, Contract, Trigger, TriggerVersion, Workspace
from app.db.session import create_engine
from app.domain.cadences import default_cadences
from app.domain.playbooks import DEFAULT_TRIGGERS
from app.main import create_app
from tests.databases import throwaway_database
from tests.factories import create_workspace


async def _defaults_of(url: str, workspace_id: uuid.UUID) -> tuple[list[Any], list[Any]]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            triggers = await conn.execute(
                sa.select(Trigger.name, Trigger.when_kind, TriggerVersion.definition)
                .join(TriggerVersion, TriggerVersion.trigger_id == Trigger.id)
                .where(Trigger.workspace_id == workspace_id)
                .order_by(Trigger.name)
            )
            cadences = await conn.execute(
                sa.select(Cadence.name, Cadence.tier, Cadence.interval_days, Cadence.steps)
                .where(Cadence.workspace_id == workspace_id)
                .order_by(Cadence.name)
            )
            return list(triggers.all()), list(cadences.all())
    finally:
        await engine.dispose()


class TestDefaultPlaybooksMigration:
    async def test_an_older_workspace_gets_what_a_new_one_is_made_with(
        self, tmp_path: Path
    ) -> None:
        async with throwaway_database(tmp_path) as url:
            engine = create_engine(url)
            old = uuid.uuid4()
            now = datetime.now(UTC)
            today = now.date()
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(upgrade_on, url, "0012")
                    await conn.execute(
                        sa.insert(Workspace).values(
                            id=old,
                            name="Old",
                            tiers=[],
                            lifecycle_stages=[],
                            version=1,
                            created_at=now,
                            updated_at=now,
                        )
                    )
                    client_id = uuid.uuid4()
                    await conn.execute(
                        sa.insert(Client).values(
                            id=client_id,
                            workspace_id=old,
                            name="C",
                            lifecycle_stage="active",
                            status="active",
                            attributes={},
                            version=1,
                            created_at=now,
                            updated_at=now,
                            stage_changed_at=now,
                        )
                    )
                    contracts = {
                        "over": (today - timedelta(days=40), "active"),
                        "cancelled": (None, "cancelled"),
                        "running": (today + timedelta(days=40), "active"),
                    }
                    for external_id, (ends_on, status) in contracts.items():
                        await conn.execute(
                            sa.insert(Contract).values(
                                id=uuid.uuid4(),
                                workspace_id=old,
                                client_id=client_id,
                                external_id=external_id,
                                starts_on=date(2024, 1, 1),
                                ends_on=ends_on,
                                amount=Decimal(10),
                                currency="USD",
                                status=status,
                                version=1,
                                created_at=now,
                                updated_at=now,
                            )
                        )
                    await conn.run_sync(upgrade_on, url)
                    announced = dict(
                        (
                            await conn.execute(sa.select(Contract.external_id, Contract.ended_at))
                        ).all()
                    )
            finally:
                await engine.dispose()

            app = create_app(Settings(database_url=url))
            try:
                async with app.router.lifespan_context(app):
                    new = await create_workspace(app)
            finally:
                await app.state.engine.dispose()
            migrated = await _defaults_of(url, old)
            made = await _defaults_of(url, new.id)

        assert {name for name, _, _ in migrated[0]} == {d.name for d in DEFAULT_TRIGGERS}
        assert {name for name, *_ in migrated[1]} == {c.name for c in default_cadences()}
        assert migrated == made
        assert announced["over"] is not None
        assert announced["cancelled"] is not None
        assert announced["running"] is None
