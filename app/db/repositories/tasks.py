"""Tasks: the dedupe-safe insert, assignment's view of the owners, the API's pages, and the
scans of the `tasks.escalate` job."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db.models import Owner, Task, TaskSettingsRecord
from app.db.models.task import OPEN_WITH_KEY
from app.db.repositories.paging import Page, paginate, sort_keys
from app.domain.pagination import Cursor, InvalidCursor, decode_cursor, encode_cursor
from app.domain.tasks import OPEN_STATUSES, OwnerLoad, TaskSource, TaskStatus

TASK_SORTS = sort_keys({"created_at": Task.created_at})
DUE_SORTS = ("due_at", "-due_at")
_TASKS = Task.metadata.tables[Task.__tablename__]
_OPEN = tuple(s.value for s in OPEN_STATUSES)


@dataclass(frozen=True)
class TaskFilters:
    owner_id: uuid.UUID | None = None
    client_id: uuid.UUID | None = None
    statuses: tuple[str, ...] = ()
    sources: tuple[str, ...] = ()
    due_before: datetime | None = None
    overdue: bool | None = None


class TaskRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    @property
    def _postgres(self) -> bool:
        return self.session.get_bind().dialect.name == "postgresql"

    async def insert(self, values: dict[str, Any]) -> Task | None:
        """The new task, or None when an open task of the client already holds its dedupe key
        (also one a concurrent transaction just wrote)."""
        insert = postgresql.insert if self._postgres else sqlite.insert
        stmt = (
            insert(Task)
            .values(values)
            .on_conflict_do_nothing(
                index_elements=["workspace_id", "client_id", "dedupe_key"],
                index_where=OPEN_WITH_KEY,
            )
            .returning(Task)
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def get(self, workspace_id: uuid.UUID, task_id: uuid.UUID) -> Task | None:
        stmt = sa.select(Task).where(Task.workspace_id == workspace_id, Task.id == task_id)
        return (await self.session.scalars(stmt)).one_or_none()

    async def find_open(
        self, workspace_id: uuid.UUID, client_id: uuid.UUID, dedupe_key: str
    ) -> Task | None:
        stmt = sa.select(Task).where(
            Task.workspace_id == workspace_id,
            Task.client_id == client_id,
            Task.dedupe_key == dedupe_key,
            Task.status.in_(_OPEN),
        )
        return (await self.session.scalars(stmt)).one_or_none()

    async def delete(self, task: Task) -> None:
        await self.session.delete(task)
        await self.session.flush()

    # Assignment ---------------------------------------------------------------------------

    async def owner_loads(self, workspace_id: uuid.UUID) -> list[OwnerLoad]:
        """Every active owner with their open tasks and when they last got one. Correlated
        per owner, so each figure is an index probe however many tasks the workspace holds."""
        owned = Task.owner_id == Owner.id
        last = (
            sa.select(sa.func.max(Task.assigned_at)).where(owned).correlate(Owner).scalar_subquery()
        )
        same = aliased(Task)  # its own name, so `last` inside correlates to owners alone
        at_last = (
            sa.select(sa.func.count())
            .where(same.owner_id == Owner.id, same.assigned_at == last)
            .correlate(Owner)
            .scalar_subquery()
        )
        open_tasks = (
            sa.select(sa.func.count())
            .where(owned, Task.status.in_(_OPEN))
            .correlate(Owner)
            .scalar_subquery()
        )
        stmt = sa.select(Owner.id, open_tasks, last, at_last).where(
            Owner.workspace_id == workspace_id, Owner.active.is_(True)
        )
        rows = (await self.session.execute(stmt)).all()
        return [
            OwnerLoad(
                owner_id=owner_id,
                open_tasks=int(count or 0),
                last_assigned_at=last_at,
                assigned_at_last=int(n or 0),
            )
            for owner_id, count, last_at, n in rows
        ]

    async def active_owner(self, workspace_id: uuid.UUID, owner_id: uuid.UUID) -> bool:
        stmt = sa.select(
            sa.exists().where(
                Owner.workspace_id == workspace_id, Owner.id == owner_id, Owner.active.is_(True)
            )
        )
        return bool(await self.session.scalar(stmt))

    # Pages --------------------------------------------------------------------------------

    async def page(
        self,
        workspace_id: uuid.UUID,
        filters: TaskFilters,
        *,
        sort: str,
        cursor: str | None,
        limit: int,
        now: datetime,
    ) -> Page[Task]:
        stmt = sa.select(Task).where(Task.workspace_id == workspace_id)
        if filters.owner_id is not None:
            stmt = stmt.where(Task.owner_id == filters.owner_id)
        if filters.client_id is not None:
            stmt = stmt.where(Task.client_id == filters.client_id)
        if filters.statuses:
            stmt = stmt.where(Task.status.in_(filters.statuses))
        if filters.sources:
            stmt = stmt.where(Task.source.in_(filters.sources))
        if filters.due_before is not None:
            stmt = stmt.where(Task.due_at < filters.due_before)
        overdue = sa.and_(
            Task.status == TaskStatus.OPEN.value, Task.due_at.is_not(None), Task.due_at < now
        )
        if filters.overdue is True:
            stmt = stmt.where(overdue)
        elif filters.overdue is False:
            stmt = stmt.where(sa.not_(overdue))
        if sort in DUE_SORTS:
            return await _page_by_due(self.session, stmt, sort, cursor, limit)
        return await paginate(
            self.session,
            stmt,
            id_column=Task.id,
            sort=sort,
            key=TASK_SORTS[sort],
            cursor=cursor,
            limit=limit,
        )

    # The escalation job --------------------------------------------------------------------

    async def wake(self, now: datetime, workspace_id: uuid.UUID | None = None) -> int:
        """Snoozed tasks whose time has come are open again; returns how many woke."""
        stmt = sa.update(_TASKS).where(
            _TASKS.c.status == TaskStatus.SNOOZED.value, _TASKS.c.snoozed_until <= now
        )
        if workspace_id is not None:
            stmt = stmt.where(_TASKS.c.workspace_id == workspace_id)
        result = await self.session.execute(
            stmt.values(
                status=TaskStatus.OPEN.value,
                snoozed_until=None,
                version=_TASKS.c.version + 1,
                updated_at=now,
            ).returning(_TASKS.c.id)
        )
        return len(result.scalars().all())

    def _escalable(self, before: datetime) -> list[sa.ColumnElement[bool]]:
        return [
            _TASKS.c.status == TaskStatus.OPEN.value,
            _TASKS.c.escalated_at.is_(None),
            _TASKS.c.source != TaskSource.ESCALATION.value,
            _TASKS.c.due_at < before,
        ]

    async def workspaces_with_overdue(self, before: datetime) -> list[uuid.UUID]:
        """Workspaces holding an unescalated open task due before `before` (the shortest
        escalation delay any workspace may set)."""
        stmt = sa.select(_TASKS.c.workspace_id).where(*self._escalable(before)).distinct()
        return sorted((await self.session.scalars(stmt)).all())

    async def escalation_candidates(
        self, workspace_id: uuid.UUID, before: datetime, limit: int
    ) -> list[Task]:
        stmt = (
            sa.select(Task)
            .where(Task.workspace_id == workspace_id, *self._escalable(before))
            .order_by(Task.due_at, Task.id)
            .limit(limit)
        )
        return list((await self.session.scalars(stmt)).all())

    async def claim_escalation(self, task_id: uuid.UUID, before: datetime, now: datetime) -> bool:
        """Marks the task escalated unless a concurrent run (or a change) got there first."""
        result = await self.session.execute(
            sa.update(_TASKS)
            .where(_TASKS.c.id == task_id, *self._escalable(before))
            .values(escalated_at=now, version=_TASKS.c.version + 1, updated_at=now)
            .returning(_TASKS.c.id)
        )
        return result.scalar_one_or_none() is not None

    # Settings -----------------------------------------------------------------------------

    async def settings(self, workspace_id: uuid.UUID) -> TaskSettingsRecord | None:
        return await self.session.get(TaskSettingsRecord, workspace_id)

    async def add_settings(self, record: TaskSettingsRecord) -> None:
        self.session.add(record)
        await self.session.flush()


async def _page_by_due(
    session: AsyncSession, stmt: sa.Select[Task], sort: str, cursor: str | None, limit: int
) -> Page[Task]:
    """Soonest (or latest) due first, tasks without a due date last: keyset over
    (due_at, id) with the undated tail handled apart, since a tuple comparison with NULL is
    never true."""
    descending = sort.startswith("-")
    if cursor is not None:
        due, after_id = _decode_due(decode_cursor(cursor, sort).values)
        if due is None:
            stmt = stmt.where(
                Task.due_at.is_(None), Task.id < after_id if descending else Task.id > after_id
            )
        else:
            key = sa.tuple_(Task.due_at, Task.id)
            boundary = sa.tuple_(sa.literal(due, Task.due_at.type), sa.literal(after_id, sa.Uuid()))
            stmt = stmt.where(
                sa.or_(Task.due_at.is_(None), key < boundary if descending else key > boundary)
            )
    if descending:
        order = (Task.due_at.desc().nulls_last(), Task.id.desc())
    else:
        order = (Task.due_at.asc().nulls_last(), Task.id.asc())
    rows: Sequence[Task] = (await session.scalars(stmt.order_by(*order).limit(limit + 1))).all()
    items = list(rows[:limit])
    has_more = len(rows) > limit
    next_cursor = None
    if has_more and items:
        last = items[-1]
        due_text = last.due_at.isoformat() if last.due_at is not None else None
        next_cursor = encode_cursor(Cursor(sort=sort, values=[due_text, str(last.id)]))
    return Page(items=items, next_cursor=next_cursor, has_more=has_more)


def _decode_due(values: list[Any]) -> tuple[datetime | None, uuid.UUID]:
    try:
        raw_due, raw_id = values
        row_id = uuid.UUID(str(raw_id))
        if raw_due is None:
            return None, row_id
        due = datetime.fromisoformat(str(raw_due))
    except (ValueError, TypeError) as exc:
        raise InvalidCursor("the cursor is not one this API issued") from exc
    if due.tzinfo is None:
        raise InvalidCursor("the cursor is not one this API issued")
    return due, row_id
