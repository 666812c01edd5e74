"""SQL functions that each dialect spells its own way, so queries read the same on both."""

import json
import uuid
from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.expression import FunctionElement


class seconds_between(FunctionElement[float]):  # noqa: N801 - reads as the SQL function it is
    """Seconds from the second moment to the first, as a double: the time between two events
    without bringing either to Python."""

    type = sa.Double()
    inherit_cache = True
    name = "seconds_between"


@compiles(seconds_between, "postgresql")
def _seconds_between_postgresql(element: seconds_between, compiler: Any, **kw: Any) -> str:
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"CAST(EXTRACT(EPOCH FROM ({later} - {earlier})) AS DOUBLE PRECISION)"


@compiles(seconds_between, "sqlite")
def _seconds_between_sqlite(element: seconds_between, compiler: Any, **kw: Any) -> str:
    # SQLite keeps moments as ISO text in UTC; julianday reads them with their fraction.
    later, earlier = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"((julianday({later}) - julianday({earlier})) * 86400.0)"


class IdArray(sa.types.TypeDecorator[Sequence[uuid.UUID]]):
    """Ids bound as one parameter: a `uuid[]` on PostgreSQL, a JSON array of the stored form
    on SQLite."""

    impl = sa.String
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> sa.types.TypeEngine[Any]:
        if dialect.name == "postgresql":
            return dialect.type_descriptor(ARRAY(sa.Uuid()))
        return dialect.type_descriptor(sa.String())

    def process_bind_param(self, value: Sequence[uuid.UUID] | None, dialect: Dialect) -> Any:
        if value is None or dialect.name == "postgresql":
            return value
        stored = sa.Uuid().bind_processor(dialect)
        return json.dumps([stored(v) if stored else str(v) for v in value])


class in_ids(FunctionElement[bool]):  # noqa: N801 - reads as the SQL it is
    """`column IN (ids)` with the ids in one parameter, however many: an expanded `IN` list
    is a parameter per id, and a statement whose text changes with the list's length."""

    type = sa.Boolean()
    inherit_cache = True
    name = "in_ids"
    _is_implicitly_boolean = True  # a predicate as it stands: no `= 1` on SQLite

    def __init__(self, column: Any, ids: Iterable[uuid.UUID]) -> None:
        super().__init__(column, sa.bindparam(None, list(ids), type_=IdArray()))


@compiles(in_ids, "postgresql")
def _in_ids_postgresql(element: in_ids, compiler: Any, **kw: Any) -> str:
    column, ids = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"{column} = ANY({ids})"


@compiles(in_ids, "sqlite")
def _in_ids_sqlite(element: in_ids, compiler: Any, **kw: Any) -> str:
    column, ids = (compiler.process(arg, **kw) for arg in element.clauses)
    return f"{column} IN (SELECT value FROM json_each({ids}))"
