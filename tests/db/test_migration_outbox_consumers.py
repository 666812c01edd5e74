"""Migration 0008: rows already handed over keep the one consumer their kind had; pending facts
wait for the relay to fan them out; rows of the retired no-op consumer are finished."""

import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

from app.db.migrate import upgrade_on
from app.db.session import create_engine
from app.db.types import UTCDateTime
from tests.databases import throwaway_database

OUTBOX = sa.table(
    "outbox",
    sa.column("id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("payload", sa.JSON()),
    sa.column("status", sa.String()),
    sa.column("attempts", sa.Integer()),
    sa.column("generation", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("available_at", UTCDateTime()),
    sa.column("consumer", sa.String()),
    sa.column("fact_id", sa.Uuid()),
    sa.column("finished_at", UTCDateTime()),
)
ROWS = {
    "pending fact": ("clients.changed", "pending"),
    "handed-over fact": ("clients.changed", "succeeded"),
    "scheduled tick": ("maintenance.purge", "enqueued"),
    "retired consumer's": ("health.changed", "enqueued"),
    "retired, done": ("signal.opened", "succeeded"),
}


async def test_rows_get_their_consumer(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    ids = {name: uuid.uuid4() for name in ROWS}
    async with throwaway_database(tmp_path) as url:
        engine = create_engine(url)
        try:
            async with engine.begin() as conn:
                await conn.run_sync(upgrade_on, url, "0007")
                await conn.execute(
                    OUTBOX.insert(),
                    [
                        {
                            "id": ids[name],
                            "kind": kind,
                            "payload": {},
                            "status": status,
                            "attempts": 0,
                            "generation": 0,
                            "created_at": now,
                            "available_at": now,
                        }
                        for name, (kind, status) in ROWS.items()
                    ],
                )
                await conn.run_sync(upgrade_on, url, "0008")
                result = await conn.execute(
                    sa.select(OUTBOX.c.id, OUTBOX.c.status, OUTBOX.c.consumer, OUTBOX.c.fact_id)
                )
                rows = {row.id: row for row in result.all()}
        finally:
            await engine.dispose()
    got = {name: rows[row_id][1:] for name, row_id in ids.items()}
    assert got == {
        "pending fact": ("pending", None, None),
        "handed-over fact": ("succeeded", "clients.evaluate", ids["handed-over fact"]),
        "scheduled tick": ("enqueued", "maintenance.purge", ids["scheduled tick"]),
        "retired consumer's": ("succeeded", "health.notify", ids["retired consumer's"]),
        "retired, done": ("succeeded", "health.notify", ids["retired, done"]),
    }
