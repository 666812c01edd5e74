"""Overrides record the API key that made them: the key is the caller's identity when no
author is named.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 02:30:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("health_overrides", schema=None) as batch_op:
        batch_op.add_column(sa.Column("api_key_id", sa.Uuid(), nullable=True))
        batch_op.create_foreign_key(
            batch_op.f("fk_health_overrides_api_key_id_api_keys"),
            "api_keys",
            ["api_key_id"],
            ["id"],
            ondelete="SET NULL",
        )


def downgrade() -> None:
    with op.batch_alter_table("health_overrides", schema=None) as batch_op:
        batch_op.drop_constraint(
            batch_op.f("fk_health_overrides_api_key_id_api_keys"), type_="foreignkey"
        )
        batch_op.drop_column("api_key_id")
