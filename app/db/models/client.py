import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped, utcnow
from app.db.types import JSONDocument


class Client(Timestamped, Base):
    __tablename__ = "clients"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "external_id"),
        sa.Index("ix_clients_workspace_id_name_id", "workspace_id", "name", "id"),
        sa.Index("ix_clients_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        sa.Index("ix_clients_workspace_id_updated_at_id", "workspace_id", "updated_at", "id"),
        sa.Index("ix_clients_workspace_id_owner_id", "workspace_id", "owner_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    domain: Mapped[str | None] = mapped_column(sa.String(253))
    owner_id: Mapped[uuid.UUID | None] = mapped_column(sa.ForeignKey("owners.id"))
    tier: Mapped[str | None] = mapped_column(sa.String(64))
    lifecycle_stage: Mapped[str] = mapped_column(sa.String(64))
    stage_changed_at: Mapped[datetime] = mapped_column(default=utcnow)
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    acquired_at: Mapped[datetime | None]
    # `given`, `history` or `created` (app.domain.clients.AcquiredAtSource): only a given date
    # is the caller's; the others move earlier as older history arrives.
    acquired_at_source: Mapped[str] = mapped_column(
        sa.String(16), default="created", server_default="created"
    )
    churned_at: Mapped[datetime | None]
    churn_reason: Mapped[str | None] = mapped_column(sa.String(1000))
    attributes: Mapped[dict[str, Any]] = mapped_column(JSONDocument, default=dict)
    # Derived from events on ingest; not user edits, so they do not bump `version`.
    last_activity_at: Mapped[datetime | None]
    last_touchpoint_at: Mapped[datetime | None]
    open_tickets: Mapped[int] = mapped_column(default=0, server_default="0")
    first_escalation_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class ClientStageChange(Base):
    """One row per lifecycle move, so time-in-stage can be measured later."""

    __tablename__ = "client_stage_changes"
    __table_args__ = (
        sa.Index("ix_client_stage_changes_client_id_changed_at", "client_id", "changed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    from_stage: Mapped[str | None] = mapped_column(sa.String(64))
    to_stage: Mapped[str] = mapped_column(sa.String(64))
    changed_at: Mapped[datetime] = mapped_column(default=utcnow)
