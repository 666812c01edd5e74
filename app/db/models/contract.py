import uuid
from datetime import date, datetime
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.db.types import ScaledDecimal

UNANNOUNCED = sa.text("ended_at IS NULL")


class Contract(Timestamped, Base):
    """A recurring revenue line; `amount` is per month, exact to 4 decimal places."""

    __tablename__ = "contracts"
    __table_args__ = (
        sa.UniqueConstraint("workspace_id", "external_id"),
        sa.Index("ix_contracts_workspace_id_client_id", "workspace_id", "client_id"),
        sa.Index("ix_contracts_workspace_id_created_at_id", "workspace_id", "created_at", "id"),
        sa.Index(
            "ix_contracts_ends_on_unannounced",
            "ends_on",
            postgresql_where=UNANNOUNCED,
            sqlite_where=UNANNOUNCED,
        ),
    )

    id: Mapped[uuid.UUID] = mapped_column(primary_key=True, default=uuid.uuid4)
    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE")
    )
    client_id: Mapped[uuid.UUID] = mapped_column(sa.ForeignKey("clients.id", ondelete="CASCADE"))
    external_id: Mapped[str | None] = mapped_column(sa.String(255))
    starts_on: Mapped[date] = mapped_column(sa.Date)
    ends_on: Mapped[date | None] = mapped_column(sa.Date)
    amount: Mapped[Decimal] = mapped_column(ScaledDecimal)
    currency: Mapped[str] = mapped_column(sa.String(3))
    status: Mapped[str] = mapped_column(sa.String(16), default="active")
    # When Tenure announced the end (`contract.ended`): once, whether it expired or was
    # cancelled. Contracts that were already over when they were recorded are history, not
    # news: they are marked ended at creation and announce nothing.
    ended_at: Mapped[datetime | None]
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
