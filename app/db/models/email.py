import uuid
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped


class Email(Timestamped, Base):
    """One email Tenure sent, will send, or decided not to: the rendered message as it went
    out, why it exists (trigger, cadence, action run) and what the provider said. Its
    `provider_message_id` links the opens, clicks and bounces providers report later."""

    __tablename__ = "emails"
    __table_args__ = (
        sa.Index("ix_emails_action_run_id", "action_run_id", unique=True),
        sa.Index("ix_emails_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        sa.Index(
            "ix_emails_workspace_id_client_id_created_at", "workspace_id", "client_id", "created_at"
        ),
        # The per-contact cap counts a recipient's recent emails across every trigger.
        sa.Index(
            "ix_emails_workspace_id_to_email_created_at", "workspace_id", "to_email", "created_at"
        ),
        sa.Index(
            "ix_emails_workspace_id_provider_message_id", "workspace_id", "provider_message_id"
        ),
        sa.Index("ix_emails_status_created_at", "status", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    contact_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("contacts.id", ondelete="SET NULL")
    )
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("owners.id", ondelete="SET NULL")
    )
    integration_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="SET NULL")
    )
    template_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("email_templates.id", ondelete="SET NULL")
    )
    task_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tasks.id", ondelete="SET NULL")
    )
    """The review task holding the draft, in review mode."""
    action_run_id: Mapped[uuid.UUID | None]
    trigger_id: Mapped[uuid.UUID | None]
    cadence_id: Mapped[uuid.UUID | None]
    to_email: Mapped[str] = mapped_column(sa.String(320))
    """Lower-cased: the cap and the suppression list compare addresses."""
    to_name: Mapped[str | None] = mapped_column(sa.String(200))
    from_email: Mapped[str | None] = mapped_column(sa.String(320))
    from_name: Mapped[str | None] = mapped_column(sa.String(200))
    reply_to: Mapped[str | None] = mapped_column(sa.String(320))
    subject: Mapped[str] = mapped_column(sa.String(1000))
    text_body: Mapped[str] = mapped_column(sa.Text)
    html_body: Mapped[str | None] = mapped_column(sa.Text)
    status: Mapped[str] = mapped_column(sa.String(16))
    status_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    provider_message_id: Mapped[str | None] = mapped_column(sa.String(255))
    attempts: Mapped[int] = mapped_column(default=0)
    sent_at: Mapped[datetime | None]
    approved_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class EmailSuppression(Timestamped, Base):
    """An address Tenure must not email: it bounced, unsubscribed or complained (fed by the
    providers' inbound webhooks), or someone added it by hand."""

    __tablename__ = "email_suppressions"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "email"),
        sa.Index(
            "ix_email_suppressions_workspace_id_created_at_id", "workspace_id", "created_at", "id"
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    email: Mapped[str] = mapped_column(sa.String(320))
    reason: Mapped[str] = mapped_column(sa.String(32))
    source: Mapped[str | None] = mapped_column(sa.String(64))
    detail: Mapped[str | None] = mapped_column(sa.String(1000))
