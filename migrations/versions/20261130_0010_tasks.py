"""Tasks: the unit of work for a client's owner (one open task per client and dedupe key),
and each workspace's task settings (assignment fallback, escalation).

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
OPEN_WITH_KEY = sa.text("status IN ('open', 'snoozed') AND dedupe_key IS NOT NULL")


def upgrade() -> None:
    op.create_table(
        "task_settings",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("settings", JSON, nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_task_settings_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_task_settings")),
    )
    op.create_table(
        "tasks",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("body", sa.Text(), nullable=True),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("priority", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("snoozed_until", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("trigger_id", sa.Uuid(), nullable=True),
        sa.Column("trigger_run_id", sa.Uuid(), nullable=True),
        sa.Column("cadence_id", sa.Uuid(), nullable=True),
        sa.Column("cadence_step", sa.Integer(), nullable=True),
        sa.Column("signal_id", sa.Uuid(), nullable=True),
        sa.Column("channel", sa.String(length=16), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("dedupe_key", sa.String(length=200), nullable=True),
        sa.Column("escalates_task_id", sa.Uuid(), nullable=True),
        sa.Column("escalated_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("completed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("cancelled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["clients.id"],
            name=op.f("fk_tasks_client_id_clients"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["escalates_task_id"],
            ["tasks.id"],
            name=op.f("fk_tasks_escalates_task_id_tasks"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["owner_id"],
            ["owners.id"],
            name=op.f("fk_tasks_owner_id_owners"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["signal_id"],
            ["signals.id"],
            name=op.f("fk_tasks_signal_id_signals"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["workspace_id"],
            ["workspaces.id"],
            name=op.f("fk_tasks_workspace_id_workspaces"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tasks")),
    )
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.create_index(
            "ix_tasks_open_dedupe_key",
            ["workspace_id", "client_id", "dedupe_key"],
            unique=True,
            postgresql_where=OPEN_WITH_KEY,
            sqlite_where=OPEN_WITH_KEY,
        )
        batch_op.create_index(
            "ix_tasks_owner_id_status_due_at", ["owner_id", "status", "due_at"], unique=False
        )
        batch_op.create_index(
            "ix_tasks_owner_id_assigned_at", ["owner_id", "assigned_at"], unique=False
        )
        batch_op.create_index(
            "ix_tasks_workspace_id_client_id_status",
            ["workspace_id", "client_id", "status"],
            unique=False,
        )
        batch_op.create_index(
            "ix_tasks_workspace_id_due_at_id", ["workspace_id", "due_at", "id"], unique=False
        )
        batch_op.create_index(
            "ix_tasks_workspace_id_created_at_id",
            ["workspace_id", "created_at", "id"],
            unique=False,
        )
        batch_op.create_index("ix_tasks_status_due_at", ["status", "due_at"], unique=False)
        batch_op.create_index("ix_tasks_escalates_task_id", ["escalates_task_id"], unique=False)
        batch_op.create_index("ix_tasks_signal_id", ["signal_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("tasks", schema=None) as batch_op:
        batch_op.drop_index("ix_tasks_signal_id")
        batch_op.drop_index("ix_tasks_escalates_task_id")
        batch_op.drop_index("ix_tasks_status_due_at")
        batch_op.drop_index("ix_tasks_workspace_id_created_at_id")
        batch_op.drop_index("ix_tasks_workspace_id_due_at_id")
        batch_op.drop_index("ix_tasks_workspace_id_client_id_status")
        batch_op.drop_index("ix_tasks_owner_id_assigned_at")
        batch_op.drop_index("ix_tasks_owner_id_status_due_at")
        batch_op.drop_index(
            "ix_tasks_open_dedupe_key", postgresql_where=OPEN_WITH_KEY, sqlite_where=OPEN_WITH_KEY
        )

    op.drop_table("tasks")
    op.drop_table("task_settings")
