"""Every workspace has a scorecard: the default B2B one for any workspace without one, since
reads no longer create it on first use (it is made with the workspace).

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30 02:00:00
"""

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

from app.db.types import UTCDateTime
from app.domain.scorecard_documents import to_document
from app.domain.scorecards import DEFAULT_SCORECARD

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")
WORKSPACES = sa.table("workspaces", sa.column("id", sa.Uuid()))
SCORECARDS = sa.table(
    "scorecards",
    sa.column("id", sa.Uuid()),
    sa.column("workspace_id", sa.Uuid()),
    sa.column("name", sa.String()),
    sa.column("tiers", JSON),
    sa.column("current_version", sa.Integer()),
    sa.column("archived_at", UTCDateTime()),
    sa.column("created_at", UTCDateTime()),
    sa.column("updated_at", UTCDateTime()),
)
VERSIONS = sa.table(
    "scorecard_versions",
    sa.column("scorecard_id", sa.Uuid()),
    sa.column("version", sa.Integer()),
    sa.column("workspace_id", sa.Uuid()),
    sa.column("definition", JSON),
    sa.column("created_at", UTCDateTime()),
)


def upgrade() -> None:
    connection = op.get_bind()
    has_scorecard = sa.exists().where(SCORECARDS.c.workspace_id == WORKSPACES.c.id)
    bare = connection.execute(sa.select(WORKSPACES.c.id).where(~has_scorecard)).scalars().all()
    if not bare:
        return
    now = datetime.now(UTC)
    definition = to_document(DEFAULT_SCORECARD)
    cards = [
        {
            "id": uuid.uuid4(),
            "workspace_id": workspace_id,
            "name": DEFAULT_SCORECARD.name,
            "tiers": [],
            "current_version": 1,
            "archived_at": None,
            "created_at": now,
            "updated_at": now,
        }
        for workspace_id in bare
    ]
    connection.execute(sa.insert(SCORECARDS), cards)
    connection.execute(
        sa.insert(VERSIONS),
        [
            {
                "scorecard_id": card["id"],
                "version": 1,
                "workspace_id": card["workspace_id"],
                "definition": definition,
                "created_at": now,
            }
            for card in cards
        ],
    )


def downgrade() -> None:
    """The added scorecards are indistinguishable from ones made with their workspace."""
