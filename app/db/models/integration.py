import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.db.types import JSONDocument


class Integration(Timestamped, Base):
    """One provider account of a workspace. The credentials are one Fernet token over their
    JSON (`app.integrations.credentials`); `credential_names` says which fields are set, so the
    API can show that much without ever decrypting."""

    __tablename__ = "integrations"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "name"),
        sa.Index("ix_integrations_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(sa.String(32))
    name: Mapped[str] = mapped_column(sa.String(200))
    base_url: Mapped[str | None] = mapped_column(sa.String(2048))
    credentials_encrypted: Mapped[str] = mapped_column(sa.Text)
    credential_names: Mapped[list[str]] = mapped_column(JSONDocument)
    status: Mapped[str] = mapped_column(sa.String(16))
    options: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    last_checked_at: Mapped[datetime | None]
    last_check_ok: Mapped[bool | None]
    last_error: Mapped[str | None] = mapped_column(sa.String(2000))
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class IntegrationCall(Base):
    """One outbound attempt to a provider, as `app.integrations.base.ProviderCall` reports it.
    Kept for `integration_call_retention_days`; the maintenance job deletes older rows."""

    __tablename__ = "integration_calls"
    __table_args__ = (
        sa.Index(
            "ix_integration_calls_integration_id_started_at_id",
            "integration_id",
            "started_at",
            "id",
        ),
        sa.Index("ix_integration_calls_started_at", "started_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    integration_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("integrations.id", ondelete="CASCADE")
    )
    operation: Mapped[str] = mapped_column(sa.String(64))
    method: Mapped[str] = mapped_column(sa.String(16))
    url: Mapped[str] = mapped_column(sa.String(2048))
    status: Mapped[int | None]
    latency_ms: Mapped[float] = mapped_column(sa.Float)
    attempt: Mapped[int]
    error: Mapped[str | None] = mapped_column(sa.String(1000))
    request_id: Mapped[str | None] = mapped_column(sa.String(200))
    started_at: Mapped[datetime]
