"""Playbooks every workspace starts with: contracts record when their end was announced
(`contract.ended`, which wakes the debrief trigger), and each workspace gets the default
triggers and tier cadences.

Existing contracts that are already over (cancelled, or past their last day) count as
announced: their end is history, not news, and must not flood owners with debrief tasks.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 06:00:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.db.types import UTCDateTime
from app.domain.cadences import cadence_document, default_cadences
from app.domain.playbooks import DEFAULT_TRIGGERS
from app.services.trigger_engine import parse

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNANNOUNCED = sa.text("ended_at IS NULL")
JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WORKSPACES = sa.table("workspaces", sa.column("id", sa.Uuid()))
TRIGGERS = sa.table(
    "triggers",
    *(sa.column(name, sa.Uuid()) for name in ("id", "workspace_id")),
    *(sa.column(name, sa.String()) for name in ("name", "description", "when_kind")),
    sa.column("enabled", sa.Boolean()),
    *(sa.column(name, sa.Integer()) for name in ("current_version", "revision")),
    *(sa.column(name, UTCDateTime()) for name in ("next_due_at", "created_at", "updated_at")),
)
TRIGGER_VERSIONS = sa.table(
    "trigger_versions",
    *(sa.column(name, sa.Uuid()) for name in ("trigger_id", "workspace_id")),
    sa.column("version", sa.Integer()),
    sa.column("definition", JSON),
    sa.column("created_at", UTCDateTime()),
)
CADENCES = sa.table(
    "cadences",
    *(sa.column(name, sa.Uuid()) for name in ("id", "workspace_id")),
    *(sa.column(name, sa.String()) for name in ("name", "kind", "tier")),
    *(sa.column(name, JSON) for name in ("condition", "channels", "steps", "exit_rules")),
    sa.column("interval_days", sa.Integer()),
    sa.column("enabled", sa.Boolean()),
    sa.column("version", sa.Integer()),
    *(sa.column(name, UTCDateTime()) for name in ("created_at", "updated_at")),
)


def upgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            "ix_contracts_ends_on_unannounced",
            ["ends_on"],
            unique=False,
            postgresql_where=UNANNOUNCED,
            sqlite_where=UNANNOUNCED,
        )
    now = datetime.now(UTC)
    contracts = sa.table(
        "contracts",
        sa.column("status", sa.String()),
        sa.column("ends_on", sa.Date()),
        sa.column("ended_at", UTCDateTime()),
    )
    op.get_bind().execute(
        contracts.update()
        .where(
            sa.or_(contracts.c.status == "cancelled", contracts.c.ends_on < now.date()),
        )
        .values(ended_at=now)
    )
    workspaces = op.get_bind().execute(sa.select(WORKSPACES.c.id)).scalars().all()
    if workspaces:
        _add_default_playbooks(list(workspaces), now)


def _add_default_playbooks(workspaces: list[uuid.UUID], now: datetime) -> None:
    """The rows `app.services.playbooks.add_defaults` makes with a new workspace; no
    workspace had a trigger or a cadence before this release, so none is skipped."""
    triggers: list[dict[str, Any]] = []
    versions: list[dict[str, Any]] = []
    cadences: list[dict[str, Any]] = []
    for workspace_id in workspaces:
        for default in DEFAULT_TRIGGERS:
            definition = parse(default.definition)
            cron = definition.when.cron
            trigger_id = uuid.uuid4()
            triggers.append(
                {
                    "id": trigger_id,
                    "workspace_id": workspace_id,
                    "name": default.name,
                    "description": default.description,
                    "when_kind": definition.when.kind.value,
                    "enabled": True,
                    "current_version": 1,
                    "revision": 1,
                    "next_due_at": cron.next_after(now) if cron is not None else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
            versions.append(
                {
                    "trigger_id": trigger_id,
                    "workspace_id": workspace_id,
                    "version": 1,
                    "definition": definition.document(),
                    "created_at": now,
                }
            )
        for rhythm in default_cadences():
            document = cadence_document(rhythm)
            cadences.append(
                {
                    "id": uuid.uuid4(),
                    "workspace_id": workspace_id,
                    "name": rhythm.name,
                    "kind": rhythm.kind.value,
                    "tier": rhythm.tier,
                    "condition": document["condition"],
                    "channels": document["channels"],
                    "steps": document["steps"],
                    "exit_rules": document["exit"],
                    "interval_days": rhythm.interval_days,
                    "enabled": rhythm.enabled,
                    "version": 1,
                    "created_at": now,
                    "updated_at": now,
                }
            )
    connection = op.get_bind()
    connection.execute(sa.insert(TRIGGERS), triggers)
    connection.execute(sa.insert(TRIGGER_VERSIONS), versions)
    connection.execute(sa.insert(CADENCES), cadences)


def downgrade() -> None:
    default_triggers = [default.name for default in DEFAULT_TRIGGERS]
    default_cadences_ = [rhythm.name for rhythm in default_cadences()]
    connection = op.get_bind()
    connection.execute(sa.delete(TRIGGERS).where(TRIGGERS.c.name.in_(default_triggers)))
    connection.execute(sa.delete(CADENCES).where(CADENCES.c.name.in_(default_cadences_)))
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index("ix_contracts_ends_on_unannounced")
        batch_op.drop_column("ended_at")
