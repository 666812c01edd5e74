import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped, utcnow
from app.db.types import JSONDocument


class Trigger(Timestamped, Base):
    """A playbook rule: its definition (when, if, then, control) lives in versions, so every
    run names the version that decided it. `revision` moves on every write (the ETag);
    `current_version` only when the definition changes. Deleting archives it: runs keep it."""

    __tablename__ = "triggers"
    __table_args__ = (
        sa.Index("ix_triggers_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        sa.Index("ix_triggers_workspace_id_when_kind", "workspace_id", "when_kind"),
        sa.Index("ix_triggers_when_kind_next_due_at", "when_kind", "next_due_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    description: Mapped[str | None] = mapped_column(sa.String(2000))
    when_kind: Mapped[str] = mapped_column(sa.String(32))
    """The current version's `when.kind`, a column so a fact finds its triggers by index."""
    enabled: Mapped[bool] = mapped_column(default=True)
    current_version: Mapped[int] = mapped_column(default=1)
    revision: Mapped[int] = mapped_column(default=1)
    next_due_at: Mapped[datetime | None]
    """Schedule triggers: the next cron moment not yet evaluated (null for the others)."""
    archived_at: Mapped[datetime | None]


class TriggerVersion(Base):
    __tablename__ = "trigger_versions"

    trigger_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("triggers.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    definition: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class TriggerRun(Base):
    """One decision of a trigger for one client that matched: fired, held out (the control
    group), or held back by the control policy (debounced, cooled down, capped, once only).
    Clients that did not match leave no row."""

    __tablename__ = "trigger_runs"
    __table_args__ = (
        sa.Index("ix_trigger_runs_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        sa.Index(
            "ix_trigger_runs_trigger_id_client_id_created_at",
            "trigger_id",
            "client_id",
            "created_at",
        ),
        sa.Index("ix_trigger_runs_trigger_id_created_at_id", "trigger_id", "created_at", "id"),
        sa.Index("ix_trigger_runs_client_id_created_at", "client_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    trigger_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("triggers.id", ondelete="CASCADE"))
    trigger_version: Mapped[int]
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    fact_kind: Mapped[str] = mapped_column(sa.String(64))
    """What woke it: a fact kind, `schedule` or `manual`."""
    fact_id: Mapped[uuid.UUID | None]
    signal_id: Mapped[uuid.UUID | None]
    """The signal whose opening or resolution woke it, if any."""
    outcome: Mapped[str] = mapped_column(sa.String(16))
    holdout: Mapped[bool] = mapped_column(default=False)
    detail: Mapped[str | None] = mapped_column(sa.String(500))
    condition_values: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    """The condition's values as evaluated, the client's side of the explanation."""
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ActionRun(Timestamped, Base):
    """One action of a trigger run or a cadence step, run by the job `actions.run` at
    `due_at`; the row keeps its status, tries and result."""

    __tablename__ = "action_runs"
    __table_args__ = (
        sa.Index("ix_action_runs_trigger_run_id_position", "trigger_run_id", "position"),
        sa.Index("ix_action_runs_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        sa.Index("ix_action_runs_cadence_enrollment_id", "cadence_enrollment_id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    trigger_run_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("trigger_runs.id", ondelete="CASCADE")
    )
    cadence_enrollment_id: Mapped[uuid.UUID | None]
    cadence_id: Mapped[uuid.UUID | None]
    cadence_step: Mapped[int | None]
    signal_id: Mapped[uuid.UUID | None]
    kind: Mapped[str] = mapped_column(sa.String(64))
    params: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    position: Mapped[int] = mapped_column(default=0)
    due_at: Mapped[datetime]
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSONDocument)
    error: Mapped[str | None] = mapped_column(sa.Text)
    finished_at: Mapped[datetime | None]


class TriggerSettingsRecord(Timestamped, Base):
    """A workspace's trigger settings (the frequency cap); no row means the defaults."""

    __tablename__ = "trigger_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    max_firings_per_client_per_day: Mapped[int]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
