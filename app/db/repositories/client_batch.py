"""The bulk upsert of clients writes with Core statements, never ORM objects per row: one read
of the batch's clients (locked on PostgreSQL, in id order), multi-row inserts that skip a key
taken meanwhile, one UPDATE run for every changed client (executemany), one insert of the
stage changes."""

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, ClientStageChange, Event, Owner
from app.domain.client_batch import COLUMNS, StoredClient

_CLIENTS = Client.metadata.tables[Client.__tablename__]
_STORED = (Client.id, Client.external_id, Client.created_at, *(getattr(Client, c) for c in COLUMNS))
_UPDATE = (
    sa.update(_CLIENTS)
    .where(_CLIENTS.c.id == sa.bindparam("b_id", type_=_CLIENTS.c.id.type))
    .values(
        {
            **{c: sa.bindparam(f"b_{c}", type_=_CLIENTS.c[c].type) for c in COLUMNS},
            "version": _CLIENTS.c.version + 1,
            "updated_at": sa.bindparam("b_now", type_=_CLIENTS.c.updated_at.type),
        }
    )
)
"""Every changeable column of one client, its version moved (so its ETag) like any edit."""


class ClientBatchRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def stored(
        self, workspace_id: uuid.UUID, external_ids: Sequence[str]
    ) -> dict[str, StoredClient]:
        """The batch's existing clients, locked until the commit on PostgreSQL (in id order,
        so concurrent batches queue rather than deadlock): a merge of attributes read here
        cannot lose a concurrent edit."""
        if not external_ids:
            return {}
        stmt = (
            sa.select(*_STORED)
            .where(Client.workspace_id == workspace_id, Client.external_id.in_(set(external_ids)))
            .order_by(Client.id)
        )
        if self._postgres:
            stmt = stmt.with_for_update()
        rows = (await self.session.execute(stmt)).all()
        return {
            r.external_id: StoredClient(r.id, r.created_at, {c: getattr(r, c) for c in COLUMNS})
            for r in rows
        }

    async def owners(self, workspace_id: uuid.UUID, ids: set[uuid.UUID]) -> set[uuid.UUID]:
        if not ids:
            return set()
        stmt = sa.select(Owner.id).where(Owner.workspace_id == workspace_id, Owner.id.in_(ids))
        return set((await self.session.scalars(stmt)).all())

    async def insert(
        self,
        workspace_id: uuid.UUID,
        rows: Sequence[tuple[uuid.UUID, str, dict[str, Any]]],
        now: datetime,
    ) -> set[uuid.UUID]:
        """(id, external id, values) of new clients; returns the ids stored. A key another
        request took meanwhile is skipped, not an error, so the rest of the batch stands."""
        values = [
            {
                "id": client_id,
                "workspace_id": workspace_id,
                "external_id": external_id,
                **row,
                "open_tickets": 0,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for client_id, external_id, row in rows
        ]
        if not values:
            return set()
        insert = postgresql.insert if self._postgres else sqlite.insert
        stmt = (
            insert(_CLIENTS)
            .on_conflict_do_nothing(index_elements=["workspace_id", "external_id"])
            .returning(_CLIENTS.c.id)
        )
        # A list of parameters with RETURNING runs as SQLAlchemy's "insertmanyvalues": the
        # statement is compiled once and sent as multi-row VALUES pages; compiling a
        # 500-row `.values([...])` anew for every page cost a second each.
        return set((await self.session.execute(stmt, values)).scalars().all())

    async def update(self, rows: Sequence[tuple[uuid.UUID, dict[str, Any]]], now: datetime) -> None:
        """(id, values) of changed clients, in id order (the order the rows were locked in)."""
        if not rows:
            return
        params = [
            {"b_id": client_id, "b_now": now, **{f"b_{c}": values[c] for c in COLUMNS}}
            for client_id, values in sorted(rows, key=lambda r: r[0])
        ]
        await self.session.execute(_UPDATE, params)

    async def add_stage_changes(self, rows: list[dict[str, Any]]) -> None:
        if rows:
            await self.session.execute(sa.insert(ClientStageChange), rows)

    async def recount_escalations(self, client_ids: Sequence[uuid.UUID]) -> None:
        """The first escalation at or after each client's (given) acquisition."""
        if not client_ids:
            return
        first = (
            sa.select(sa.func.min(Event.occurred_at))
            .where(
                Event.client_id == _CLIENTS.c.id,
                Event.type == "ticket_escalated",
                Event.occurred_at >= _CLIENTS.c.acquired_at,
            )
            .scalar_subquery()
        )
        await self.session.execute(
            sa.update(_CLIENTS)
            .where(_CLIENTS.c.id.in_(sorted(client_ids)))
            .values(first_escalation_at=first, updated_at=_CLIENTS.c.updated_at)
        )
