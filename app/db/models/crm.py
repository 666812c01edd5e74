import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.db.types import JSONDocument


class CrmLink(Timestamped, Base):
    """A Tenure row and its CRM record, per integration: a client and its company/account, a
    contact, an owner, a task and the CRM task mirroring it. For clients it also keeps what was
    last pushed, so a push sends only a change past the threshold, and `pending_since` while a
    debounced push waits."""

    __tablename__ = "crm_links"
    __table_args__ = (
        sa.UniqueConstraint("integration_id", "object", "record_id"),
        sa.UniqueConstraint("integration_id", "object", "local_id"),
        sa.Index("ix_crm_links_workspace_id_object_local_id", "workspace_id", "object", "local_id"),
        sa.Index("ix_crm_links_integration_id_pending_since", "integration_id", "pending_since"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    integration_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="CASCADE")
    )
    object: Mapped[str] = mapped_column(sa.String(16))
    """`client`, `contact`, `owner` or `task`."""
    local_id: Mapped[uuid.UUID]
    record_id: Mapped[str] = mapped_column(sa.String(64))
    pushed: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    pushed_at: Mapped[datetime | None]
    pending_since: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    """A mirrored task: when the CRM said it was completed."""
    pending_properties: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    """A `crm_update` action's static extras, sent with the next push (migration 0017)."""
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    """Why the CRM last refused this record's push."""


class CrmSync(Timestamped, Base):
    """One import from a CRM (companies → clients, contacts, owners), resumable: it keeps the
    object it is on and the provider's cursor after every page."""

    __tablename__ = "crm_syncs"
    __table_args__ = (
        sa.Index("ix_crm_syncs_integration_id_created_at", "integration_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    integration_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="CASCADE")
    )
    status: Mapped[str] = mapped_column(sa.String(16))
    object: Mapped[str | None] = mapped_column(sa.String(16))
    cursor: Mapped[str | None] = mapped_column(sa.String(2000))
    counts: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    error: Mapped[str | None] = mapped_column(sa.Text)
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
