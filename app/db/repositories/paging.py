"""Keyset pagination over (sort column, id): no skipped or repeated rows under inserts."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Generic, TypeVar

import sqlalchemy as sa
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import InstrumentedAttribute

from app.domain.pagination import Cursor, InvalidCursor, decode_cursor, encode_cursor

T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_cursor: str | None
    has_more: bool


@dataclass(frozen=True)
class SortKey:
    column: InstrumentedAttribute[Any]
    descending: bool = False


def sort_keys(columns: dict[str, InstrumentedAttribute[Any]]) -> dict[str, SortKey]:
    """`name` ascending and `-name` descending for every sortable column."""
    keys: dict[str, SortKey] = {}
    for name, column in columns.items():
        keys[name] = SortKey(column)
        keys[f"-{name}"] = SortKey(column, descending=True)
    return keys


async def paginate(
    session: AsyncSession,
    stmt: sa.Select[T],
    *,
    id_column: InstrumentedAttribute[uuid.UUID],
    sort: str,
    key: SortKey,
    cursor: str | None,
    limit: int,
) -> Page[T]:
    column = key.column
    if cursor is not None:
        values = decode_cursor(cursor, sort).values
        boundary = _decode_values(values, column)
        after = sa.tuple_(column, id_column)
        stmt = stmt.where(after < boundary if key.descending else after > boundary)
    order = (column.desc(), id_column.desc()) if key.descending else (column.asc(), id_column.asc())
    rows: Sequence[T] = (await session.scalars(stmt.order_by(*order).limit(limit + 1))).all()
    items = list(rows[:limit])
    has_more = len(rows) > limit
    next_cursor = None
    if has_more and items:
        last = items[-1]
        next_cursor = encode_cursor(
            Cursor(
                sort=sort,
                values=[_encode(getattr(last, column.key)), str(getattr(last, id_column.key))],
            )
        )
    return Page(items=items, next_cursor=next_cursor, has_more=has_more)


def _encode(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _decode_values(values: list[Any], column: InstrumentedAttribute[Any]) -> sa.Tuple:
    if len(values) != 2:
        raise InvalidCursor("the cursor is not one this API issued")
    raw, raw_id = values
    try:
        row_id = uuid.UUID(str(raw_id))
        value = _decode_value(raw, _python_type(column))
    except (ValueError, NotImplementedError) as exc:
        raise InvalidCursor("the cursor is not one this API issued") from exc
    return sa.tuple_(sa.literal(value, column.type), sa.literal(row_id, sa.Uuid()))


def _python_type(column: InstrumentedAttribute[Any]) -> type[Any]:
    """A TypeDecorator (such as UTCDateTime) reports `object`; its implementation knows better."""
    column_type = column.type
    if isinstance(column_type, sa.types.TypeDecorator):
        column_type = column_type.impl_instance
    python_type: type[Any] = column_type.python_type
    return python_type


def _decode_value(raw: Any, python_type: type[Any]) -> Any:
    """The sort value as `_encode` wrote it; anything else was not issued by this API."""
    if python_type is datetime:
        value = datetime.fromisoformat(str(raw))
        if value.tzinfo is None:
            raise ValueError("cursor datetimes carry an offset")
        return value
    if python_type is date:
        return date.fromisoformat(str(raw))
    if not isinstance(raw, python_type):
        raise ValueError(f"expected a {python_type.__name__}")
    if isinstance(raw, str) and "\x00" in raw:
        raise ValueError("text values never contain NUL")  # PostgreSQL would refuse the query
    return raw
