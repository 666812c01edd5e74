"""Playbooks every workspace starts with: contracts record when their end was announced
(`contract.ended`, which wakes the debrief trigger), and each workspace gets the default
triggers and tier cadences.

Existing contracts that are already over (cancelled, or past their last day) count as
announced: their end is history, not news, and must not flood owners with debrief tasks.

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 06:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

UNANNOUNCED = sa.text("ended_at IS NULL")


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


def downgrade() -> None:
    with op.batch_alter_table("contracts", schema=None) as batch_op:
        batch_op.drop_index("ix_contracts_ends_on_unannounced")
        batch_op.drop_column("ended_at")
