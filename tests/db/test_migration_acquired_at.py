"""Migration 0009: existing clients learn whether their `acquired_at` was given; a date that
was only the silent default of creating the client becomes derived from the history."""

import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

from app.db.migrate import upgrade_on
from app.db.session import create_engine
from app.db.types import UTCDateTime
from tests.databases import throwaway_database

CREATED = datetime(2026, 11, 1, 12, 0, 0, 250_000, tzinfo=UTC)
WORKSPACES = sa.table(
    "workspaces",
    sa.column("id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("tiers", sa.JSON()),
    sa.column("lifecycle_stages", sa.JSON()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
CLIENTS = sa.table(
    "clients",
    *(sa.column(c, sa.Uuid()) for c in ("id", "workspace_id")),
    *(sa.column(c, sa.String()) for c in ("name", "lifecycle_stage", "status")),
    sa.column("attributes", sa.JSON()),
    sa.column("version", sa.Integer()),
    sa.column("open_tickets", sa.Integer()),
    *(
        sa.column(c, UTCDateTime())
        for c in ("created_at", "updated_at", "stage_changed_at", "acquired_at", "churned_at")
    ),
    sa.column("first_escalation_at", UTCDateTime()),
)
CONTRACTS = sa.table(
    "contracts",
    *(sa.column(c, sa.Uuid()) for c in ("id", "workspace_id", "client_id")),
    sa.column("starts_on", sa.Date()),
    sa.column("amount", sa.BigInteger()),
    sa.column("currency", sa.String()),
    sa.column("status", sa.String()),
    sa.column("version", sa.Integer()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
EVENTS = sa.table(
    "events",
    *(sa.column(c, sa.Uuid()) for c in ("id", "workspace_id", "client_id")),
    sa.column("occurred_at", UTCDateTime()),
    sa.column("received_at", UTCDateTime()),
    sa.column("type", sa.String()),
    sa.column("properties", sa.JSON()),
    sa.column("source", sa.String()),
)


def days(n: float) -> datetime:
    return CREATED - timedelta(days=n)


def client(workspace_id: uuid.UUID, name: str, acquired_at: datetime | None) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "workspace_id": workspace_id,
        "name": name,
        "lifecycle_stage": "onboarding",
        "status": "active",
        "attributes": {},
        "version": 1,
        "open_tickets": 0,
        "created_at": CREATED,
        "updated_at": CREATED,
        "stage_changed_at": CREATED,
        "acquired_at": acquired_at,
        "churned_at": None,
        "first_escalation_at": None,
    }


def event(row: dict[str, Any], kind: str, at: datetime) -> dict[str, Any]:
    return {
        "id": uuid.uuid4(),
        "workspace_id": row["workspace_id"],
        "client_id": row["id"],
        "occurred_at": at,
        "received_at": CREATED,
        "type": kind,
        "properties": {"ticket_id": "T-1"},
        "source": "api",
    }


class TestAcquiredAtSource:
    async def test_defaulted_dates_become_derived_and_given_ones_stay(self, tmp_path: Path) -> None:
        async with throwaway_database(tmp_path) as url:
            engine = create_engine(url)
            try:
                async with engine.begin() as conn:
                    await conn.run_sync(upgrade_on, url, "0008")
                    workspace_id = uuid.uuid4()
                    await conn.execute(
                        sa.insert(WORKSPACES).values(
                            id=workspace_id,
                            name="Old",
                            tiers=[],
                            lifecycle_stages=["onboarding"],
                            version=1,
                            created_at=CREATED,
                            updated_at=CREATED,
                        )
                    )
                    # created through the API before: acquired_at defaulted to the request's now
                    defaulted = client(workspace_id, "defaulted", CREATED - timedelta(seconds=0.2))
                    given = client(workspace_id, "given", days(100))
                    minimal = client(workspace_id, "minimal", None)  # upserted by events
                    quiet = client(workspace_id, "quiet", CREATED)
                    await conn.execute(sa.insert(CLIENTS), [defaulted, given, minimal, quiet])
                    await conn.execute(
                        sa.insert(EVENTS),
                        [
                            event(defaulted, "email_sent", days(500)),
                            event(defaulted, "ticket_escalated", days(300)),
                            event(defaulted, "login", days(200)),
                            event(given, "ticket_escalated", days(150)),
                        ],
                    )
                    await conn.execute(
                        sa.insert(CONTRACTS).values(
                            id=uuid.uuid4(),
                            workspace_id=workspace_id,
                            client_id=minimal["id"],
                            starts_on=date(2025, 1, 1),
                            amount=10_000,
                            currency="USD",
                            status="cancelled",
                            version=1,
                            created_at=CREATED,
                            updated_at=CREATED,
                        )
                    )
                    await conn.run_sync(upgrade_on, url)
                    rows: Any = (
                        await conn.execute(
                            sa.select(
                                sa.column("name"),
                                sa.column("acquired_at", UTCDateTime()),
                                sa.column("acquired_at_source"),
                                sa.column("first_escalation_at", UTCDateTime()),
                            ).select_from(sa.table("clients"))
                        )
                    ).all()
            finally:
                await engine.dispose()
        got = {r.name: (r.acquired_at, r.acquired_at_source, r.first_escalation_at) for r in rows}
        assert got == {
            "defaulted": (days(300), "history", days(300)),  # not the older email_sent
            "given": (days(100), "given", None),  # its escalation came before it
            "minimal": (datetime(2025, 1, 1, tzinfo=UTC), "history", None),
            "quiet": (CREATED, "created", None),
        }
