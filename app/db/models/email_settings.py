import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from app.db.base import Base, Timestamped
from app.db.types import JSONDocument


class EmailSettingsRecord(Timestamped, Base):
    """A workspace's email settings (the per-contact cap, review mode) as a JSON document over
    the defaults; no row means every default."""

    __tablename__ = "email_settings"

    workspace_id: Mapped[uuid.UUID] = mapped_column(
        sa.ForeignKey("workspaces.id", ondelete="CASCADE"), primary_key=True
    )
    settings: Mapped[dict[str, Any]] = mapped_column(JSONDocument)
    version: Mapped[int] = mapped_column(default=1)

    __mapper_args__ = {"version_id_col": version}  # noqa: RUF012
