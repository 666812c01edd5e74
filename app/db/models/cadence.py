import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.db.types import JSONDocument

ACTIVE = sa.text("status = 'active'")
PAUSED = sa.text("status = 'active' AND paused_at IS NOT NULL")


class Cadence(Timestamped, Base):
    """A follow-up rhythm or an outreach sequence (app.domain.cadences). `steps`, `channels`,
    `condition` and `exit_rules` are its documents; `version` moves with every edit (ETag)."""

    __tablename__ = "cadences"
    __table_args__ = (
        sa.Index("ix_cadences_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        sa.Index("ix_cadences_workspace_id_name_id", "workspace_id", "name", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    kind: Mapped[str] = mapped_column(sa.String(16))
    tier: Mapped[str | None] = mapped_column(sa.String(64))
    condition: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    interval_days: Mapped[int | None]
    channels: Mapped[list[Any]] = mapped_column(JSONDocument)
    steps: Mapped[list[Any]] = mapped_column(JSONDocument)
    exit_rules: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    enabled: Mapped[bool] = mapped_column(default=True)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class CadenceEnrollment(Timestamped, Base):
    """A client in a cadence. One active enrolment per (cadence, client) (partial unique
    index); ended ones are kept with their exit reason. The tick reads the active ones whose
    `next_due_at` has come or whose clock is paused (`paused_at`)."""

    __tablename__ = "cadence_enrollments"
    __table_args__ = (
        sa.Index(
            "ix_cadence_enrollments_client_id_cadence_id_active",
            "client_id",
            "cadence_id",
            unique=True,
            postgresql_where=ACTIVE,
            sqlite_where=ACTIVE,
        ),
        sa.Index(
            "ix_cadence_enrollments_next_due_at_active",
            "next_due_at",
            postgresql_where=ACTIVE,
            sqlite_where=ACTIVE,
        ),
        sa.Index(
            "ix_cadence_enrollments_paused_at_paused",
            "paused_at",
            postgresql_where=PAUSED,
            sqlite_where=PAUSED,
        ),
        sa.Index(
            "ix_cadence_enrollments_cadence_id_enrolled_at_id", "cadence_id", "enrolled_at", "id"
        ),
        sa.Index("ix_cadence_enrollments_client_id_enrolled_at", "client_id", "enrolled_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    cadence_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("cadences.id", ondelete="CASCADE"))
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    status: Mapped[str] = mapped_column(sa.String(16))
    source: Mapped[str] = mapped_column(sa.String(16))
    enrolled_at: Mapped[datetime]
    anchor_at: Mapped[datetime]
    """The last qualifying touchpoint, or the enrolment when there was none."""
    next_step: Mapped[int] = mapped_column(default=0)
    next_due_at: Mapped[datetime | None]
    """When `next_step` falls due; moved on by the time the clock was paused. Null once ended."""
    paused_at: Mapped[datetime | None]
    """Since when an open cadence task holds the clock; null while it runs."""
    last_step: Mapped[int | None]
    last_step_at: Mapped[datetime | None]
    ended_at: Mapped[datetime | None]
    exit_reason: Mapped[str | None] = mapped_column(sa.String(32))
