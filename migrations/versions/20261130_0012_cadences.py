"""Cadences and their enrollments (issue 10).

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
ACTIVE = sa.text("status = 'active'")
PAUSED = sa.text("status = 'active' AND paused_at IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "cadences",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("tier", sa.String(length=64), nullable=True),
        sa.Column("condition", JSON, nullable=True),
        sa.Column("interval_days", sa.Integer(), nullable=True),
        sa.Column("channels", JSON, nullable=False),
        sa.Column("steps", JSON, nullable=False),
        sa.Column("exit_rules", JSON, nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_cadences_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cadences")),
    )
    with op.batch_alter_table("cadences", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cadences_workspace_id_created_at_id",
            ["workspace_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_cadences_workspace_id_name_id", ["workspace_id", "name", "id"], unique=False
        )

    op.create_table(
        "cadence_enrollments",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("cadence_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("enrolled_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("anchor_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("next_step", sa.Integer(), nullable=False),
        sa.Column("next_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_step", sa.Integer(), nullable=True),
        sa.Column("last_step_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("exit_reason", sa.String(length=32), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["cadence_id"],
            ["cadences.id"],
            name=op.f("fk_cadence_enrollments_cadence_id_cadences"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_cadence_enrollments_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_cadence_enrollments_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cadence_enrollments")),
    )
    with op.batch_alter_table("cadence_enrollments", schema=None) as batch_op:
        batch_op.create_index(
            "ix_cadence_enrollments_client_id_cadence_id_active",
            ["client_id", "cadence_id"],
            unique=True,
            postgresql_where=ACTIVE,
            sqlite_where=ACTIVE,
        )
        batch_op.create_index(
            "ix_cadence_enrollments_next_due_at_active",
            ["next_due_at"],
            unique=False,
            postgresql_where=ACTIVE,
            sqlite_where=ACTIVE,
        )
        batch_op.create_index(
            "ix_cadence_enrollments_paused_at_paused",
            ["paused_at"],
            unique=False,
            postgresql_where=PAUSED,
            sqlite_where=PAUSED,
        )
        batch_op.create_index(
            "ix_cadence_enrollments_cadence_id_enrolled_at_id",
            ["cadence_id", "enrolled_at", "id"],
            unique=False,
        )
        batch_op.create_index(
            "ix_cadence_enrollments_client_id_enrolled_at",
            ["client_id", "enrolled_at"],
            unique=False,
        )


def downgrade() -> None:
    op.drop_table("cadence_enrollments")
    op.drop_table("cadences")
