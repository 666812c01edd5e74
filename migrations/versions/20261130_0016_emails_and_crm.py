"""Emails (every message Tenure sent or decided not to), the suppression list, the links
between Tenure rows and CRM records, and the CRM imports.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30 10:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0016"
down_revision: str | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
TIME = sa.DateTime(timezone=True)


def _fk(table: str, column: str, target: str, ondelete: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=f"fk_{table}_{column}_{target}", ondelete=ondelete
    )


def upgrade() -> None:
    op.create_table(
        "emails",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("client_id", sa.Uuid(), nullable=False),
        sa.Column("contact_id", sa.Uuid(), nullable=True),
        sa.Column("owner_id", sa.Uuid(), nullable=True),
        sa.Column("integration_id", sa.Uuid(), nullable=True),
        sa.Column("template_id", sa.Uuid(), nullable=True),
        sa.Column("task_id", sa.Uuid(), nullable=True),
        sa.Column("action_run_id", sa.Uuid(), nullable=True),
        sa.Column("trigger_id", sa.Uuid(), nullable=True),
        sa.Column("cadence_id", sa.Uuid(), nullable=True),
        sa.Column("to_email", sa.String(length=320), nullable=False),
        sa.Column("to_name", sa.String(length=200), nullable=True),
        sa.Column("from_email", sa.String(length=320), nullable=True),
        sa.Column("from_name", sa.String(length=200), nullable=True),
        sa.Column("reply_to", sa.String(length=320), nullable=True),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("text_body", sa.Text(), nullable=False),
        sa.Column("html_body", sa.Text(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("status_reason", sa.String(length=1000), nullable=True),
        sa.Column("provider_message_id", sa.String(length=255), nullable=True),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("sent_at", TIME, nullable=True),
        sa.Column("approved_at", TIME, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _fk("emails", "client_id", "clients", "CASCADE"),
        _fk("emails", "contact_id", "contacts", "SET NULL"),
        _fk("emails", "integration_id", "integrations", "SET NULL"),
        _fk("emails", "owner_id", "owners", "SET NULL"),
        _fk("emails", "task_id", "tasks", "SET NULL"),
        _fk("emails", "template_id", "email_templates", "SET NULL"),
        _fk("emails", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_emails")),
    )
    with op.batch_alter_table("emails", schema=None) as batch_op:
        batch_op.create_index("ix_emails_action_run_id", ["action_run_id"], unique=True)
        batch_op.create_index(
            "ix_emails_workspace_id_created_at_id", ["workspace_id", "created_at", "id"]
        )
        batch_op.create_index(
            "ix_emails_workspace_id_client_id_created_at",
            ["workspace_id", "client_id", "created_at"],
        )
        batch_op.create_index(
            "ix_emails_workspace_id_to_email_created_at",
            ["workspace_id", "to_email", "created_at"],
        )
        batch_op.create_index(
            "ix_emails_workspace_id_provider_message_id",
            ["workspace_id", "provider_message_id"],
        )
        batch_op.create_index("ix_emails_status_created_at", ["status", "created_at"])

    op.create_table(
        "email_suppressions",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("email", sa.String(length=320), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("source", sa.String(length=64), nullable=True),
        sa.Column("detail", sa.String(length=1000), nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _fk("email_suppressions", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_email_suppressions")),
        sa.UniqueConstraint(
            "workspace_id", "email", name=op.f("uq_email_suppressions_workspace_id_email")
        ),
    )
    with op.batch_alter_table("email_suppressions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_email_suppressions_workspace_id_created_at_id",
            ["workspace_id", "created_at", "id"],
        )

    op.create_table(
        "crm_links",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("object", sa.String(length=16), nullable=False),
        sa.Column("local_id", sa.Uuid(), nullable=False),
        sa.Column("record_id", sa.String(length=64), nullable=False),
        sa.Column("pushed", JSON, nullable=True),
        sa.Column("pushed_at", TIME, nullable=True),
        sa.Column("pending_since", TIME, nullable=True),
        sa.Column("closed_at", TIME, nullable=True),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _fk("crm_links", "integration_id", "integrations", "CASCADE"),
        _fk("crm_links", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_links")),
        sa.UniqueConstraint(
            "integration_id",
            "object",
            "record_id",
            name=op.f("uq_crm_links_integration_id_object_record_id"),
        ),
        sa.UniqueConstraint(
            "integration_id",
            "object",
            "local_id",
            name=op.f("uq_crm_links_integration_id_object_local_id"),
        ),
    )
    with op.batch_alter_table("crm_links", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crm_links_workspace_id_object_local_id", ["workspace_id", "object", "local_id"]
        )
        batch_op.create_index(
            "ix_crm_links_integration_id_pending_since", ["integration_id", "pending_since"]
        )

    op.create_table(
        "crm_syncs",
        sa.Column("id", sa.Uuid(), nullable=False),
        sa.Column("workspace_id", sa.Uuid(), nullable=False),
        sa.Column("integration_id", sa.Uuid(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("object", sa.String(length=16), nullable=True),
        sa.Column("cursor", sa.String(length=2000), nullable=True),
        sa.Column("counts", JSON, nullable=False),
        sa.Column("error", sa.Text(), nullable=True),
        sa.Column("started_at", TIME, nullable=True),
        sa.Column("finished_at", TIME, nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", TIME, nullable=False),
        sa.Column("updated_at", TIME, nullable=False),
        _fk("crm_syncs", "integration_id", "integrations", "CASCADE"),
        _fk("crm_syncs", "workspace_id", "workspaces", "CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_crm_syncs")),
    )
    with op.batch_alter_table("crm_syncs", schema=None) as batch_op:
        batch_op.create_index(
            "ix_crm_syncs_integration_id_created_at", ["integration_id", "created_at"]
        )


def downgrade() -> None:
    op.drop_table("crm_syncs")
    op.drop_table("crm_links")
    op.drop_table("email_suppressions")
    op.drop_table("emails")
