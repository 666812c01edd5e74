import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow
from app.db.types import JSONDocument


class OutboxMessage(Base):
    """Follow-up work written in the same transaction as the change that causes it; the row is
    also the job's record (status, attempts, last error), so nothing lives only in Redis."""

    __tablename__ = "outbox"
    __table_args__ = (
        sa.Index("ix_outbox_status_available_at", "status", "available_at"),
        sa.Index("ix_outbox_workspace_id_created_at", "workspace_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    kind: Mapped[str] = mapped_column(sa.String(100))
    consumer: Mapped[str | None] = mapped_column(sa.String(100))
    """The job that runs this row; none yet for a fact the relay has still to fan out."""
    fact_id: Mapped[uuid.UUID | None]
    """The fact this row serves: one id for all of its consumers' rows."""
    payload: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    dedupe_key: Mapped[str | None] = mapped_column(sa.String(255), unique=True)
    status: Mapped[str] = mapped_column(sa.String(16))
    attempts: Mapped[int] = mapped_column(default=0)
    generation: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(sa.Text)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    available_at: Mapped[datetime]
    enqueued_at: Mapped[datetime | None]
    started_at: Mapped[datetime | None]
    lease_expires_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
