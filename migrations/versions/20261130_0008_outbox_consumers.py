"""Facts fan out to consumers: each outbox row names the job that runs it (`consumer`) and the
fact it serves (`fact_id`). A row without a consumer is a fact the relay has yet to fan out.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 03:00:00
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CONSUMER_OF = {
    # The one consumer each kind had before fan-out; rows already handed over keep it.
    "clients.changed": "clients.evaluate",
    "health.changed": "health.notify",
    "signal.opened": "health.notify",
    "signal.resolved": "health.notify",
}
RETIRED = ("health.changed", "signal.opened", "signal.resolved")
"""Their only consumer, `health.notify`, did nothing and is gone: unfinished rows are done."""
OUTBOX = sa.table(
    "outbox",
    sa.column("id", sa.Uuid()),
    sa.column("kind", sa.String()),
    sa.column("status", sa.String()),
    sa.column("consumer", sa.String()),
    sa.column("fact_id", sa.Uuid()),
    sa.column("finished_at", UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.add_column(sa.Column("consumer", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("fact_id", sa.Uuid(), nullable=True))
    consumer = sa.case(
        *((OUTBOX.c.kind == kind, job) for kind, job in CONSUMER_OF.items()),
        else_=OUTBOX.c.kind,
    )
    op.execute(
        sa.update(OUTBOX)
        .where(OUTBOX.c.status != "pending")
        .values(consumer=consumer, fact_id=OUTBOX.c.id)
    )
    op.execute(
        sa.update(OUTBOX)
        .where(
            OUTBOX.c.kind.in_(RETIRED),
            OUTBOX.c.status.in_(("pending", "enqueued", "running")),
        )
        .values(status="succeeded", fact_id=OUTBOX.c.id, finished_at=datetime.now(UTC))
    )


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("fact_id")
        batch_op.drop_column("consumer")
