import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.db.types import JSONDocument

UNRESOLVED = sa.text("resolved_at IS NULL")


class Signal(Base):
    """A leading indicator raised for a client. `resolved_at` is set exactly when `status` is
    `resolved`; the partial unique index keeps one unresolved signal per client and kind."""

    __tablename__ = "signals"
    __table_args__ = (
        sa.Index(
            "ix_signals_client_id_kind_unresolved",
            "client_id",
            "kind",
            unique=True,
            postgresql_where=UNRESOLVED,
            sqlite_where=UNRESOLVED,
        ),
        sa.Index("ix_signals_workspace_id_opened_at_id", "workspace_id", "opened_at", "id"),
        sa.Index("ix_signals_client_id_opened_at_id", "client_id", "opened_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(sa.String(32))
    severity: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    figures: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    opened_at: Mapped[datetime]
    evaluated_at: Mapped[datetime]
    acknowledged_at: Mapped[datetime | None]
    acknowledged_by: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("owners.id", ondelete="SET NULL")
    )
    acknowledged_note: Mapped[str | None] = mapped_column(sa.String(1000))
    resolved_at: Mapped[datetime | None]


class SignalSettingsRecord(Timestamped, Base):
    """A workspace's signal settings as a JSON document over the defaults; no row means
    every default."""

    __tablename__ = "signal_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
