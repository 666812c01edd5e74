import uuid
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped, utcnow
from app.db.types import JSONDocument


class Scorecard(Timestamped, Base):
    """A named scorecard; its definition lives in versions, so a stored score can name the one
    that produced it. Deleting archives it: scores keep pointing at their version."""

    __tablename__ = "scorecards"
    __table_args__ = (
        sa.Index("ix_scorecards_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    name: Mapped[str] = mapped_column(sa.String(200))
    tiers: Mapped[list[Any]] = mapped_column(JSONDocument)
    """The tiers it applies to; empty means every client no tier-specific scorecard claims."""
    current_version: Mapped[int] = mapped_column(default=1)
    archived_at: Mapped[datetime | None]


class ScorecardVersion(Base):
    __tablename__ = "scorecard_versions"

    scorecard_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("scorecards.id", ondelete="CASCADE"), primary_key=True
    )
    version: Mapped[int] = mapped_column(primary_key=True)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    definition: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HealthSnapshot(Base):
    """A stored score: written when it moves by the scorecard's `min_delta` or changes band.
    `latest` marks each client's newest snapshot so the portfolio reads one row per client."""

    __tablename__ = "health_scores"
    __table_args__ = (
        sa.Index("ix_health_scores_client_id_computed_at", "client_id", "computed_at"),
        sa.Index("ix_health_scores_workspace_id_latest_score", "workspace_id", "latest", "score"),
        sa.Index("ix_health_scores_scorecard_id_computed_at", "scorecard_id", "computed_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    scorecard_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("scorecards.id", ondelete="CASCADE")
    )
    scorecard_version: Mapped[int]
    computed_at: Mapped[datetime]
    score: Mapped[float | None] = mapped_column(sa.Double)
    band: Mapped[str] = mapped_column(sa.String(64))
    groups: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    measures: Mapped[list[Any]] = mapped_column(JSONDocument)
    source: Mapped[str] = mapped_column(sa.String(16))
    latest: Mapped[bool] = mapped_column(default=False)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class HealthOverride(Base):
    """A person's judgement over the computed score until it expires; every one is kept."""

    __tablename__ = "health_overrides"
    __table_args__ = (
        sa.Index("ix_health_overrides_client_id_created_at", "client_id", "created_at"),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    score: Mapped[float | None] = mapped_column(sa.Double)
    band: Mapped[str] = mapped_column(sa.String(64))
    reason: Mapped[str] = mapped_column(sa.String(1000))
    author: Mapped[str] = mapped_column(sa.String(200))
    api_key_id: Mapped[uuid.UUID | None] = mapped_column(
        sa.ForeignKey("api_keys.id", ondelete="SET NULL")
    )
    """The key that made it: the caller's identity, and the author when none is named."""
    expires_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
