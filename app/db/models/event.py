import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, utcnow
from app.db.types import JSONDocument


class Event(Base):
    """Append-only activity. The key includes `occurred_at` so PostgreSQL can partition the
    table by time; dedupe lives in `event_keys`, since a partitioned table's unique keys must
    hold the partition column."""

    __tablename__ = "events"
    __table_args__ = (
        sa.Index("ix_events_client_id_type_occurred_at", "client_id", "type", "occurred_at"),
        sa.Index("ix_events_client_id_occurred_at_id", "client_id", "occurred_at", "id"),
        sa.Index("ix_events_workspace_id_occurred_at_id", "workspace_id", "occurred_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True)
    occurred_at: Mapped[datetime] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(sa.String(80))
    value: Mapped[float | None] = mapped_column(sa.Double)
    properties: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    contact_id: Mapped[uuid.UUID | None]
    source: Mapped[str] = mapped_column(sa.String(64))
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class EventKey(Base):
    """One row per deduplicated event: `(workspace, source, external_id)` is stored once. The key
    belongs to its event's client and goes with it, so no key outlives its event."""

    __tablename__ = "event_keys"
    __table_args__ = (sa.Index("ix_event_keys_client_id", "client_id"),)

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    source: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    external_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    event_id: Mapped[uuid.UUID]
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))


class Ticket(Base):
    """A support ticket as the events tell it, so `open_tickets` survives out-of-order arrival."""

    __tablename__ = "tickets"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    client_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("clients.id", ondelete="CASCADE"), primary_key=True
    )
    ticket_id: Mapped[str] = mapped_column(sa.String(255), primary_key=True)
    last_opened_at: Mapped[datetime | None]
    last_resolved_at: Mapped[datetime | None]
