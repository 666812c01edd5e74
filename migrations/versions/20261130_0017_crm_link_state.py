"""CRM links keep what waits beside the push (`pending_properties`: a `crm_update` action's
static extras) and why the CRM last refused it (`error`).

Revision ID: 0017
Revises: 0016
Create Date: 2026-11-30 14:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0017"
down_revision: str | None = "0016"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), "postgresql")


def upgrade() -> None:
    with op.batch_alter_table("crm_links", schema=None) as batch_op:
        batch_op.add_column(sa.Column("pending_properties", JSON, nullable=True))
        batch_op.add_column(sa.Column("error", sa.String(length=1000), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("crm_links", schema=None) as batch_op:
        batch_op.drop_column("error")
        batch_op.drop_column("pending_properties")
