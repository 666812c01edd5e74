import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.db.types import JSONDocument

OPEN_WITH_KEY = sa.text("status IN ('open', 'snoozed') AND dedupe_key IS NOT NULL")
"""The rows the dedupe index covers: one open task per (client, trigger or cadence step). The
same text is the conflict target of the insert, so PostgreSQL infers the index from it."""


class Task(Timestamped, Base):
    """The unit of work for a client's owner. `trigger_id`, `trigger_run_id` and `cadence_id`
    carry no foreign key here: those tables are built beside this one (issue 10)."""

    __tablename__ = "tasks"
    __table_args__ = (
        sa.Index(
            "ix_tasks_open_dedupe_key",
            "workspace_id",
            "client_id",
            "dedupe_key",
            unique=True,
            postgresql_where=OPEN_WITH_KEY,
            sqlite_where=OPEN_WITH_KEY,
        ),
        sa.Index("ix_tasks_owner_id_status_due_at", "owner_id", "status", "due_at"),
        sa.Index("ix_tasks_owner_id_assigned_at", "owner_id", "assigned_at"),
        sa.Index("ix_tasks_workspace_id_client_id_status", "workspace_id", "client_id", "status"),
        sa.Index("ix_tasks_workspace_id_due_at_id", "workspace_id", "due_at", "id"),
        sa.Index("ix_tasks_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        sa.Index("ix_tasks_status_due_at", "status", "due_at"),
        sa.Index("ix_tasks_escalates_task_id", "escalates_task_id"),
        sa.Index("ix_tasks_signal_id", "signal_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    # An owner who is deleted leaves their tasks unassigned rather than blocking the delete.
    owner_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("owners.id", ondelete="SET NULL")
    )
    title: Mapped[str] = mapped_column(sa.String(200))
    body: Mapped[str | None] = mapped_column(sa.Text)
    due_at: Mapped[datetime | None]
    priority: Mapped[str] = mapped_column(sa.String(16))
    status: Mapped[str] = mapped_column(sa.String(16))
    snoozed_until: Mapped[datetime | None]
    source: Mapped[str] = mapped_column(sa.String(16))
    trigger_id: Mapped[uuid.UUID | None]
    trigger_run_id: Mapped[uuid.UUID | None]
    cadence_id: Mapped[uuid.UUID | None]
    cadence_step: Mapped[int | None]
    signal_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("signals.id", ondelete="SET NULL")
    )
    channel: Mapped[str | None] = mapped_column(sa.String(16))
    outcome: Mapped[str | None] = mapped_column(sa.Text)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(200))
    escalates_task_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("tasks.id", ondelete="SET NULL")
    )
    escalated_at: Mapped[datetime | None]
    # When the current owner got the task: round-robin picks the owner who got one least
    # recently.
    assigned_at: Mapped[datetime | None]
    completed_at: Mapped[datetime | None]
    cancelled_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012


class TaskSettingsRecord(Timestamped, Base):
    """A workspace's task settings (assignment fallback, escalation) as a JSON document over
    the defaults; no row means every default."""

    __tablename__ = "task_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
