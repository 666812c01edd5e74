"""The ingest hot path writes with Core statements, never ORM objects per row. On PostgreSQL
whole batches travel as arrays through `unnest`; SQLite takes multi-row inserts."""

import json
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from app.db.models import Client, ClientStageChange, Contact, Event, EventKey, Ticket
from app.db.repositories.paging import Page, paginate, sort_keys
from app.domain.clients import AcquiredAtSource
from app.domain.events import NOT_HISTORY
from app.domain.ingestion import AcceptedEvent, ClientFacts, TicketMoment

T = TypeVar("T")
EVENT_SORTS = sort_keys({"occurred_at": Event.occurred_at})
SQLITE_CHUNK = 500
ROWS_PER_STATEMENT = 500
"""Rows per multi-row VALUES statement, far below the bind-parameter limits of both drivers."""

CLAIM_KEYS_PG = sa.text(
    """
    INSERT INTO event_keys (workspace_id, source, external_id, event_id, client_id)
    SELECT CAST(:workspace_id AS uuid), s, x, i, c
    FROM unnest(CAST(:sources AS text[]), CAST(:external_ids AS text[]), CAST(:ids AS uuid[]),
                CAST(:clients AS uuid[]))
      AS t(s, x, i, c)
    ON CONFLICT DO NOTHING
    RETURNING event_id
    """
)
INSERT_EVENTS_PG = sa.text(
    """
    INSERT INTO events (id, occurred_at, workspace_id, client_id, type, value, properties,
                        contact_id, source, external_id, received_at)
    SELECT i, o, CAST(:workspace_id AS uuid), c, t, v, p, k, s, x, CAST(:received_at AS timestamptz)
    FROM unnest(CAST(:ids AS uuid[]), CAST(:occurred AS timestamptz[]), CAST(:clients AS uuid[]),
                CAST(:types AS text[]), CAST(:values AS float8[]),
                CAST(CAST(:properties AS text[]) AS jsonb[]), CAST(:contacts AS uuid[]),
                CAST(:sources AS text[]), CAST(:external_ids AS text[]))
      AS u(i, o, c, t, v, p, k, s, x)
    """
)

UPSERT_TICKETS_PG = sa.text(
    """
    INSERT INTO tickets AS t (workspace_id, client_id, ticket_id, last_opened_at,
                              last_resolved_at)
    SELECT CAST(:workspace_id AS uuid), c, k, o, r
    FROM unnest(CAST(:clients AS uuid[]), CAST(:ticket_ids AS text[]),
                CAST(:opened AS timestamptz[]), CAST(:resolved AS timestamptz[]))
      AS u(c, k, o, r)
    ON CONFLICT (workspace_id, client_id, ticket_id) DO UPDATE
    SET last_opened_at = GREATEST(t.last_opened_at, excluded.last_opened_at),
        last_resolved_at = GREATEST(t.last_resolved_at, excluded.last_resolved_at)
    """
)
"""One statement, prepared once; PostgreSQL's GREATEST ignores nulls, as `_later_of` does."""


@dataclass(frozen=True)
class KnownClient:
    id: uuid.UUID
    external_id: str | None
    acquired_at: datetime | None
    acquired_at_source: str


KNOWN_CLIENT = (Client.id, Client.external_id, Client.acquired_at, Client.acquired_at_source)


@dataclass(frozen=True)
class EventFilters:
    client_id: uuid.UUID | None = None
    types: tuple[str, ...] = ()
    source: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def clients_by_id(
        self, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID]
    ) -> dict[uuid.UUID, KnownClient]:
        if not ids:
            return {}
        stmt = sa.select(*KNOWN_CLIENT).where(
            Client.workspace_id == workspace_id, Client.id.in_(set(ids))
        )
        return {r.id: KnownClient(*r) for r in (await self.session.execute(stmt)).all()}

    async def clients_by_external_id(
        self, workspace_id: uuid.UUID, external_ids: Sequence[str]
    ) -> dict[str, KnownClient]:
        if not external_ids:
            return {}
        stmt = sa.select(*KNOWN_CLIENT).where(
            Client.workspace_id == workspace_id, Client.external_id.in_(set(external_ids))
        )
        return {r.external_id: KnownClient(*r) for r in (await self.session.execute(stmt)).all()}

    async def create_minimal_clients(
        self, workspace_id: uuid.UUID, external_ids: Sequence[str], stage: str, now: datetime
    ) -> None:
        """Named after their external id; concurrent batches may race, the first one wins."""
        rows = [
            {
                "id": uuid.uuid4(),
                "workspace_id": workspace_id,
                "name": external_id[:200],
                "external_id": external_id,
                "lifecycle_stage": stage,
                "stage_changed_at": now,
                "status": "active",
                "acquired_at": now,
                "acquired_at_source": AcquiredAtSource.CREATED.value,
                "attributes": {},
                "open_tickets": 0,
                "version": 1,
                "created_at": now,
                "updated_at": now,
            }
            for external_id in sorted(set(external_ids))
        ]
        insert = postgresql.insert if self._postgres else sqlite.insert
        created: set[uuid.UUID] = set()
        for chunk in _chunks(rows, ROWS_PER_STATEMENT):  # asyncpg takes 32,767 arguments at most
            stmt = (
                insert(Client)
                .values(list(chunk))
                .on_conflict_do_nothing(index_elements=["workspace_id", "external_id"])
                .returning(Client.id)
            )
            created |= set((await self.session.scalars(stmt)).all())
        changes = [
            {
                "id": uuid.uuid4(),
                "workspace_id": workspace_id,
                "client_id": row["id"],
                "from_stage": None,
                "to_stage": stage,
                "changed_at": now,
            }
            for row in rows
            if row["id"] in created
        ]
        if changes:
            await self.session.execute(sa.insert(ClientStageChange), changes)

    async def contacts(
        self, workspace_id: uuid.UUID, ids: Sequence[uuid.UUID], emails: Sequence[str]
    ) -> tuple[dict[uuid.UUID, uuid.UUID], dict[tuple[uuid.UUID, str], uuid.UUID]]:
        """Contact id → its client; (client, lower-cased email) → contact id."""
        by_id: dict[uuid.UUID, uuid.UUID] = {}
        by_email: dict[tuple[uuid.UUID, str], uuid.UUID] = {}
        if ids:
            stmt = sa.select(Contact.id, Contact.client_id).where(
                Contact.workspace_id == workspace_id, Contact.id.in_(set(ids))
            )
            by_id = {r.id: r.client_id for r in (await self.session.execute(stmt)).all()}
        if emails:
            stmt2 = sa.select(Contact.id, Contact.client_id, Contact.email).where(
                Contact.workspace_id == workspace_id, Contact.email.in_(set(emails))
            )
            by_email = {
                (r.client_id, r.email): r.id for r in (await self.session.execute(stmt2)).all()
            }
        return by_id, by_email

    async def claim_keys(
        self, workspace_id: uuid.UUID, keyed: list[AcceptedEvent]
    ) -> set[uuid.UUID]:
        """Stores each event's dedupe key; returns the ids of events whose key was new."""
        if not keyed:
            return set()
        ordered = sorted(keyed, key=lambda e: (e.source, e.external_id or ""))
        if self._postgres:
            result = await self.session.execute(
                CLAIM_KEYS_PG,
                {
                    "workspace_id": workspace_id,
                    "sources": [e.source for e in ordered],
                    "external_ids": [e.external_id for e in ordered],
                    "ids": [e.id for e in ordered],
                    "clients": [e.client_id for e in ordered],
                },
            )
            return set(result.scalars().all())
        claimed: set[uuid.UUID] = set()
        for chunk in _chunks(ordered, SQLITE_CHUNK):
            stmt = (
                sqlite.insert(EventKey)
                .values(
                    [
                        {
                            "workspace_id": workspace_id,
                            "source": e.source,
                            "external_id": e.external_id,
                            "event_id": e.id,
                            "client_id": e.client_id,
                        }
                        for e in chunk
                    ]
                )
                .on_conflict_do_nothing()
                .returning(EventKey.event_id)
            )
            claimed |= set((await self.session.scalars(stmt)).all())
        return claimed

    async def stored_event_ids(
        self, workspace_id: uuid.UUID, keys: Sequence[tuple[str, str]]
    ) -> dict[tuple[str, str], uuid.UUID]:
        found: dict[tuple[str, str], uuid.UUID] = {}
        for chunk in _chunks(sorted(set(keys)), SQLITE_CHUNK):
            stmt = sa.select(EventKey.source, EventKey.external_id, EventKey.event_id).where(
                EventKey.workspace_id == workspace_id,
                sa.tuple_(EventKey.source, EventKey.external_id).in_(chunk),
            )
            for row in (await self.session.execute(stmt)).all():
                found[(row.source, row.external_id)] = row.event_id
        return found

    async def insert_events(
        self, workspace_id: uuid.UUID, events: list[AcceptedEvent], received_at: datetime
    ) -> None:
        if not events:
            return
        if self._postgres:
            await self.session.execute(
                INSERT_EVENTS_PG,
                {
                    "workspace_id": workspace_id,
                    "received_at": received_at,
                    "ids": [e.id for e in events],
                    "occurred": [e.occurred_at for e in events],
                    "clients": [e.client_id for e in events],
                    "types": [e.type for e in events],
                    "values": [e.value for e in events],
                    "properties": [json.dumps(e.properties) for e in events],
                    "contacts": [e.contact_id for e in events],
                    "sources": [e.source for e in events],
                    "external_ids": [e.external_id for e in events],
                },
            )
            return
        rows = [
            {
                "id": e.id,
                "occurred_at": e.occurred_at,
                "workspace_id": workspace_id,
                "client_id": e.client_id,
                "type": e.type,
                "value": e.value,
                "properties": e.properties,
                "contact_id": e.contact_id,
                "source": e.source,
                "external_id": e.external_id,
                "received_at": received_at,
            }
            for e in events
        ]
        await self.session.execute(sa.insert(Event), rows)

    async def apply_client_facts(self, facts: list[ClientFacts]) -> None:
        """Moves each fact only forward (or, for first escalation, only earlier); a None fact
        leaves its column alone. One statement run for every client (executemany), in the
        facts' order, so concurrent batches lock clients in the same order."""
        if not facts:
            return
        await self.session.execute(
            MOVE_CLIENT_FACTS,
            [
                {
                    "fact_client_id": f.client_id,
                    "fact_activity_at": f.last_activity_at,
                    "fact_touchpoint_at": f.last_touchpoint_at,
                    "fact_escalation_at": f.first_escalation_at,
                    "fact_first_activity_at": f.first_activity_at,
                }
                for f in facts
            ],
        )

    async def record_tickets(self, workspace_id: uuid.UUID, moments: list[TicketMoment]) -> None:
        if not moments:
            return
        if self._postgres:
            await self.session.execute(
                UPSERT_TICKETS_PG,
                {
                    "workspace_id": workspace_id,
                    "clients": [m.client_id for m in moments],
                    "ticket_ids": [m.ticket_id for m in moments],
                    "opened": [m.last_opened_at for m in moments],
                    "resolved": [m.last_resolved_at for m in moments],
                },
            )
        else:
            await self._upsert_tickets_by_values(workspace_id, moments)
        await self._count_open_tickets(moments)

    async def _upsert_tickets_by_values(
        self, workspace_id: uuid.UUID, moments: list[TicketMoment]
    ) -> None:
        """SQLite's path; PostgreSQL takes UPSERT_TICKETS_PG."""
        for chunk in _chunks(moments, ROWS_PER_STATEMENT):
            stmt = sqlite.insert(Ticket).values(
                [
                    {
                        "workspace_id": workspace_id,
                        "client_id": m.client_id,
                        "ticket_id": m.ticket_id,
                        "last_opened_at": m.last_opened_at,
                        "last_resolved_at": m.last_resolved_at,
                    }
                    for m in chunk
                ]
            )
            stmt = stmt.on_conflict_do_update(
                index_elements=["workspace_id", "client_id", "ticket_id"],
                set_={
                    "last_opened_at": _later_of(
                        Ticket.last_opened_at, stmt.excluded.last_opened_at
                    ),
                    "last_resolved_at": _later_of(
                        Ticket.last_resolved_at, stmt.excluded.last_resolved_at
                    ),
                },
            )
            await self.session.execute(stmt)

    async def _count_open_tickets(self, moments: list[TicketMoment]) -> None:
        open_count = (
            sa.select(sa.func.count())
            .where(
                Ticket.workspace_id == Client.workspace_id,  # so pk_tickets serves the count
                Ticket.client_id == Client.id,
                Ticket.last_opened_at.is_not(None),
                sa.or_(
                    Ticket.last_resolved_at.is_(None),
                    Ticket.last_opened_at > Ticket.last_resolved_at,
                ),
            )
            .scalar_subquery()
        )
        await self.session.execute(
            sa.update(Client)
            .where(Client.id.in_(sorted({m.client_id for m in moments})))
            .values(open_tickets=open_count, updated_at=Client.updated_at)
            .execution_options(synchronize_session=False)
        )

    async def first_activity_at(self, client_id: uuid.UUID) -> datetime | None:
        """The client's first event but our own outreach (the (client, occurred_at) index
        serves it: the scan stops at the first match)."""
        stmt = sa.select(sa.func.min(Event.occurred_at)).where(
            Event.client_id == client_id, Event.type.not_in(NOT_HISTORY)
        )
        moment: datetime | None = await self.session.scalar(stmt)
        return moment

    async def first_escalation_since(
        self, client_id: uuid.UUID, since: datetime | None
    ) -> datetime | None:
        stmt = sa.select(sa.func.min(Event.occurred_at)).where(
            Event.client_id == client_id, Event.type == "ticket_escalated"
        )
        if since is not None:
            stmt = stmt.where(Event.occurred_at >= since)
        moment: datetime | None = await self.session.scalar(stmt)
        return moment

    async def page(
        self,
        workspace_id: uuid.UUID,
        filters: EventFilters,
        *,
        cursor: str | None,
        limit: int,
    ) -> Page[Event]:
        stmt = sa.select(Event).where(Event.workspace_id == workspace_id)
        if filters.client_id is not None:
            stmt = stmt.where(Event.client_id == filters.client_id)
        if filters.types:
            stmt = stmt.where(Event.type.in_(filters.types))
        if filters.source is not None:
            stmt = stmt.where(Event.source == filters.source)
        if filters.occurred_from is not None:
            stmt = stmt.where(Event.occurred_at >= filters.occurred_from)
        if filters.occurred_to is not None:
            stmt = stmt.where(Event.occurred_at < filters.occurred_to)
        return await paginate(
            self.session,
            stmt,
            id_column=Event.id,
            sort="-occurred_at",
            key=EVENT_SORTS["-occurred_at"],
            cursor=cursor,
            limit=limit,
        )


def _later_of(current: Any, incoming: Any) -> Any:
    """GREATEST ignoring nulls, spelled so that SQLite and PostgreSQL agree."""
    return sa.case(
        (incoming.is_(None), current),
        (sa.or_(current.is_(None), incoming > current), incoming),
        else_=current,
    )


def _earlier_of(current: Any, incoming: Any) -> Any:
    """LEAST ignoring nulls."""
    return sa.case(
        (incoming.is_(None), current),
        (sa.or_(current.is_(None), incoming < current), incoming),
        else_=current,
    )


def _moment(name: str) -> Any:
    return sa.bindparam(name, type_=Client.last_activity_at.type)


# On the Core table, so a list of parameters runs as executemany rather than the ORM's bulk
# update by primary key; `updated_at` is kept, since derived facts are not a user edit.
_CLIENTS = Client.metadata.tables[Client.__tablename__]
_GIVEN = _CLIENTS.c.acquired_at_source == AcquiredAtSource.GIVEN.value
MOVE_CLIENT_FACTS = (
    sa.update(_CLIENTS)
    .where(_CLIENTS.c.id == sa.bindparam("fact_client_id", type_=_CLIENTS.c.id.type))
    .values(
        last_activity_at=_later_of(_CLIENTS.c.last_activity_at, _moment("fact_activity_at")),
        last_touchpoint_at=_later_of(_CLIENTS.c.last_touchpoint_at, _moment("fact_touchpoint_at")),
        first_escalation_at=_earlier_of(
            _CLIENTS.c.first_escalation_at, _moment("fact_escalation_at")
        ),
        # Older history moves an acquisition date that nobody gave (app.domain.clients).
        acquired_at=sa.case(
            (_GIVEN, _CLIENTS.c.acquired_at),
            else_=_earlier_of(_CLIENTS.c.acquired_at, _moment("fact_first_activity_at")),
        ),
        acquired_at_source=sa.case(
            (
                sa.and_(
                    ~_GIVEN,
                    _moment("fact_first_activity_at").is_not(None),
                    sa.or_(
                        _CLIENTS.c.acquired_at.is_(None),
                        _moment("fact_first_activity_at") < _CLIENTS.c.acquired_at,
                    ),
                ),
                AcquiredAtSource.HISTORY.value,
            ),
            else_=_CLIENTS.c.acquired_at_source,
        ),
        updated_at=_CLIENTS.c.updated_at,
    )
)


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
