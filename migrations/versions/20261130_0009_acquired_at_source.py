"""Clients record why their `acquired_at` is what it is (`given`, `history`, `created`), so a
date nobody gave no longer refuses imported history.

Existing rows: an `acquired_at` within a few seconds of `created_at` (or none at all) was the
silent default of creating the client, not anyone's word, so it becomes derived: the earliest
of the creation and the client's history (first contract start, first event but our own
`email_sent`, churn), with `first_escalation_at` counted from it. Any other date was sent by
a caller and stays `given`.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 04:00:00
"""

from collections.abc import Sequence
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op

from app.db.types import UTCDateTime
from app.domain.clients import derived_acquisition, history_start

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

DEFAULTED_WITHIN = timedelta(seconds=5)
"""How far apart `acquired_at` and `created_at` were when creating a client defaulted one."""

CLIENTS = sa.table(
    "clients",
    sa.column("id", sa.Uuid()),
    sa.column("created_at", UTCDateTime()),
    sa.column("acquired_at", UTCDateTime()),
    sa.column("acquired_at_source", sa.String()),
    sa.column("churned_at", UTCDateTime()),
    sa.column("first_escalation_at", UTCDateTime()),
)
CONTRACTS = sa.table(
    "contracts", sa.column("client_id", sa.Uuid()), sa.column("starts_on", sa.Date())
)
EVENTS = sa.table(
    "events",
    sa.column("client_id", sa.Uuid()),
    sa.column("type", sa.String()),
    sa.column("occurred_at", UTCDateTime()),
)


def upgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column(
                "acquired_at_source", sa.String(length=16), server_default="created", nullable=False
            )
        )
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(CLIENTS.c.id, CLIENTS.c.created_at, CLIENTS.c.acquired_at, CLIENTS.c.churned_at)
    ).all()
    given = [
        r.id
        for r in rows
        if r.acquired_at is not None and abs(r.acquired_at - r.created_at) > DEFAULTED_WITHIN
    ]
    for start in range(0, len(given), 500):
        connection.execute(
            sa.update(CLIENTS)
            .where(CLIENTS.c.id.in_(given[start : start + 500]))
            .values(acquired_at_source="given")
        )
    given_ids = set(given)
    derived = [r for r in rows if r.id not in given_ids]
    if not derived:
        return
    first_contract: dict[Any, Any] = dict(
        connection.execute(
            sa.select(CONTRACTS.c.client_id, sa.func.min(CONTRACTS.c.starts_on)).group_by(
                CONTRACTS.c.client_id
            )
        ).all()
    )
    first_event = sa.type_coerce(sa.func.min(EVENTS.c.occurred_at), UTCDateTime())
    first_activity: dict[Any, Any] = dict(
        connection.execute(
            sa.select(EVENTS.c.client_id, first_event)
            .where(EVENTS.c.type != "email_sent")
            .group_by(EVENTS.c.client_id)
        ).all()
    )
    updates = []
    for r in derived:
        history = history_start(
            first_contract_on=first_contract.get(r.id),
            first_activity_at=first_activity.get(r.id),
            churned_at=r.churned_at,
        )
        at, source = derived_acquisition(r.created_at, history)
        updates.append({"client": r.id, "at": at, "source": source.value})
    events = EVENTS.alias("e")
    connection.execute(
        sa.update(CLIENTS)
        .where(CLIENTS.c.id == sa.bindparam("client"))
        .values(
            acquired_at=sa.bindparam("at", type_=UTCDateTime()),
            acquired_at_source=sa.bindparam("source"),
            first_escalation_at=sa.select(sa.func.min(events.c.occurred_at))
            .where(
                events.c.client_id == CLIENTS.c.id,
                events.c.type == "ticket_escalated",
                events.c.occurred_at >= sa.bindparam("at", type_=UTCDateTime()),
            )
            .scalar_subquery(),
        ),
        updates,
    )


def downgrade() -> None:
    with op.batch_alter_table("clients", schema=None) as batch_op:
        batch_op.drop_column("acquired_at_source")
