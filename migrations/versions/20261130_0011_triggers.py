"""Triggers, their versions and every firing with its actions (issue 10); the workspace's
trigger settings (the frequency cap).

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 06:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIME = sa.DateTime(timezone=True)


def _workspace_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["workspace_id"],
        ["workspaces.id"],
        name=op.f(f"fk_{table}_workspace_id_workspaces"),
        ondelete="CASCADE",
    )


def _client_fk(table: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        ["client_id"],
        ["clients.id"],
        name=op.f(f"fk_{table}_client_id_clients"),
        ondelete="CASCADE",
    )


def upgrade() -> None:
    op.create_table(
        "trigger_settings",
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("max_firings_per_client_per_day", sa.Integer(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _workspace_fk("trigger_settings"),
        sa.PrimaryKeyConstraint("workspace_id", name=op.f("pk_trigger_settings")),
    )
    op.create_table(
        "triggers",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("description", sa.String(length=2000), nullable=True),
        sa.Column("when_kind", sa.String(length=32), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("current_version", sa.Integer(), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("next_due_at", TIME, nullable=True),
        sa.Column("archived_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _workspace_fk("triggers"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_triggers")),
    )
    op.create_index("ix_triggers_when_kind_next_due_at", "triggers", ["when_kind", "next_due_at"])
    op.create_index(
        "ix_triggers_workspace_id_created_at_id", "triggers", ["workspace_id", "created_at", "id"]
    )
    op.create_index("ix_triggers_workspace_id_when_kind", "triggers", ["workspace_id", "when_kind"])
    op.create_table(
        "trigger_versions",
        sa.Column("trigger_id", sa.Uuid(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("definition", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["triggers.id"],
            name=op.f("fk_trigger_versions_trigger_id_triggers"),
            ondelete="CASCADE",
        ),
        _workspace_fk("trigger_versions"),
        sa.PrimaryKeyConstraint("trigger_id", "version", name=op.f("pk_trigger_versions")),
    )
    op.create_table(
        "trigger_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("trigger_id", sa.Uuid(), nullable=False),
        sa.Column("trigger_version", sa.Integer(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("fact_kind", sa.String(length=64), nullable=False),
        sa.Column("fact_id", sa.Uuid(), nullable=True),
        sa.Column("signal_id", sa.Uuid(), nullable=True),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("holdout", sa.Boolean(), nullable=False),
        sa.Column("detail", sa.String(length=500), nullable=True),
        sa.Column("condition_values", JSON, nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        _client_fk("trigger_runs"),
        sa.ForeignKeyConstraint(
            ["trigger_id"],
            ["triggers.id"],
            name=op.f("fk_trigger_runs_trigger_id_triggers"),
            ondelete="CASCADE",
        ),
        _workspace_fk("trigger_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trigger_runs")),
    )
    op.create_index(
        "ix_trigger_runs_client_id_created_at", "trigger_runs", ["client_id", "created_at"]
    )
    op.create_index(
        "ix_trigger_runs_trigger_id_client_id_created_at",
        "trigger_runs",
        ["trigger_id", "client_id", "created_at"],
    )
    op.create_index(
        "ix_trigger_runs_trigger_id_created_at_id",
        "trigger_runs",
        ["trigger_id", "created_at", "id"],
    )
    op.create_index(
        "ix_trigger_runs_workspace_id_created_at_id",
        "trigger_runs",
        ["workspace_id", "created_at", "id"],
    )
    op.create_table(
        "action_runs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("trigger_run_id", sa.Uuid(), nullable=True),
        sa.Column("cadence_enrollment_id", sa.Uuid(), nullable=True),
        sa.Column("cadence_id", sa.Uuid(), nullable=True),
        sa.Column("cadence_step", sa.Integer(), nullable=True),
        sa.Column("signal_id", sa.Uuid(), nullable=True),
        sa.Column("kind", sa.String(length=64), nullable=False),
        sa.Column("params", JSON, nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("due_at", TIME, nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("result", JSON, nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _client_fk("action_runs"),
        sa.ForeignKeyConstraint(
            ["trigger_run_id"],
            ["trigger_runs.id"],
            name=op.f("fk_action_runs_trigger_run_id_trigger_runs"),
            ondelete="CASCADE",
        ),
        _workspace_fk("action_runs"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_runs")),
    )
    op.create_index(
        "ix_action_runs_cadence_enrollment_id", "action_runs", ["cadence_enrollment_id"]
    )
    op.create_index(
        "ix_action_runs_trigger_run_id_position", "action_runs", ["trigger_run_id", "position"]
    )
    op.create_index(
        "ix_action_runs_workspace_id_created_at_id",
        "action_runs",
        ["workspace_id", "created_at", "id"],
    )


def downgrade() -> None:
    op.drop_index("ix_action_runs_workspace_id_created_at_id", table_name="action_runs")
    op.drop_index("ix_action_runs_trigger_run_id_position", table_name="action_runs")
    op.drop_index("ix_action_runs_cadence_enrollment_id", table_name="action_runs")
    op.drop_table("action_runs")
    op.drop_index("ix_trigger_runs_workspace_id_created_at_id", table_name="trigger_runs")
    op.drop_index("ix_trigger_runs_trigger_id_created_at_id", table_name="trigger_runs")
    op.drop_index("ix_trigger_runs_trigger_id_client_id_created_at", table_name="trigger_runs")
    op.drop_index("ix_trigger_runs_client_id_created_at", table_name="trigger_runs")
    op.drop_table("trigger_runs")
    op.drop_table("trigger_versions")
    op.drop_index("ix_triggers_workspace_id_when_kind", table_name="triggers")
    op.drop_index("ix_triggers_workspace_id_created_at_id", table_name="triggers")
    op.drop_index("ix_triggers_when_kind_next_due_at", table_name="triggers")
    op.drop_table("triggers")
    op.drop_table("trigger_settings")
