"""Bulk reads and writes: many rows from and into several tables inside the caller's
transaction, on the driver connection.

A batch of approvals writes a few hundred small rows over five tables (request updates,
reservations, ledger updates, progress events, audit entries); a sync's metering writes, updates
and deletes an hour's rollup rows. ``write_all`` takes them as ``Insert``, ``Update`` and
``Delete`` operations:

- PostgreSQL: each operation is **one** statement whose rows arrive as arrays, one per column,
  sent in binary (``INSERT ... SELECT * FROM unnest(...)``, ``UPDATE ... FROM unnest(...)``,
  ``DELETE ... USING unnest(...)``), and all the operations go out in one pipeline on the
  driver connection: one round trip for them all, the server executing one statement while
  the next is being sent. Sent as one INSERT per row the server would parse, bind and execute
  every row; as a COPY per table each table costs two round trips. Columns every row of an
  Insert shares (``same``: a rollup's hour and site) go once, as scalars, not as arrays of
  one repeated value (an array of datetimes costs more to encode than the rows' text).
- SQLite: one executemany per operation of the statement compiled once, with SQLAlchemy's
  conversions only for the columns that need them (datetimes): no per-row parameter
  processing by SQLAlchemy.

Values go to the driver as they are — on PostgreSQL no SQLAlchemy type conversions — so this
is for plain columns (numbers, text, aware datetimes, NULL).

``read_all`` is the reading side: statements in the driver's own SQL, run in order — on
PostgreSQL in one pipeline (one round trip, with the transaction's BEGIN when it is the
transaction's first), on SQLite one after another — their rows as the driver returns them;
``converters`` gives SQLAlchemy's conversions for the columns that need them (SQLite's
datetimes). Building, compiling and expanding a SQLAlchemy statement with a list of values
costs more than the few rows a batch reads.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, Table, and_, bindparam, delete, insert, update
from sqlalchemy.dialects import postgresql

Row = Mapping[str, Any]


@dataclass(frozen=True, slots=True)
class Insert:
    """Insert ``rows`` (mappings with the same keys: column names; columns left out take
    their defaults) into ``table``; ``same`` holds the columns whose value every row shares
    (not repeated in ``rows``)."""

    table: Table
    rows: Sequence[Row]
    same: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Update:
    """Set the columns of each row in ``rows`` that are not in ``keys`` on the row of
    ``table`` whose ``keys`` columns equal the row's (every row has the same keys)."""

    table: Table
    keys: tuple[str, ...]
    rows: Sequence[Row]


@dataclass(frozen=True, slots=True)
class Delete:
    """Delete the rows of ``table`` whose columns equal those of a row in ``rows`` (every row
    has the same keys: a key of the table)."""

    table: Table
    rows: Sequence[Row]


Operation = Insert | Update | Delete
Read = tuple[str, Sequence[Any]]  # a statement in the driver's SQL and its parameters


def read_all(conn: Connection, reads: Sequence[Read | None]) -> list[list[tuple[Any, ...]]]:
    """Each read's rows (None: no rows), in order, inside the connection's transaction (begun
    if none is open, as an execute would); values as the driver returns them."""
    if not conn.in_transaction():
        conn.begin()  # on SQLite this runs the engine's BEGIN (IMMEDIATE, in a write session)
    driver = conn.connection.driver_connection
    assert driver is not None
    if conn.dialect.name != "postgresql":  # SQLite
        cursor = driver.cursor()
        try:
            return [cursor.execute(*read).fetchall() if read else [] for read in reads]
        finally:
            cursor.close()
    cursors = [driver.cursor() for _ in reads]
    try:
        with driver.pipeline():
            for cursor, read in zip(cursors, reads, strict=True):
                if read:
                    cursor.execute(*read)
        return [cursor.fetchall() if read else []
                for cursor, read in zip(cursors, reads, strict=True)]
    finally:
        for cursor in cursors:
            cursor.close()


def converters(dialect: Any, columns: Sequence[Any]) -> tuple[Callable[[Any], Any] | None, ...]:
    """SQLAlchemy's result conversion of each of ``columns`` on SQLite (None: the driver's
    value is the value), for rows from ``read_all``; () when none converts. On PostgreSQL
    psycopg already returns what SQLAlchemy would for plain columns (aware datetimes, floats,
    booleans): nothing to convert."""
    if dialect.name == "postgresql":
        return ()
    found = tuple(col.type.dialect_impl(dialect).result_processor(dialect, None)
                  for col in columns)
    return found if any(found) else ()


def converted(rows: Sequence[tuple[Any, ...]],
              convert: Sequence[Callable[[Any], Any] | None]) -> list[tuple[Any, ...]]:
    """``rows`` with each column's function in ``convert`` (``converters``, or bind
    processors on the way in; None: the value as it is) applied to its values other than
    NULL."""
    changes = [(i, f) for i, f in enumerate(convert) if f is not None]
    if not changes:
        return list(rows)
    out: list[tuple[Any, ...]] = []
    for row in rows:
        values = list(row)
        for i, f in changes:
            if values[i] is not None:
                values[i] = f(values[i])
        out.append(tuple(values))  # SQLAlchemy takes many rows to write as tuples
    return out


def insert_rows(conn: Connection, table: Table, rows: Sequence[Row]) -> None:
    """Insert ``rows`` into ``table`` inside the connection's transaction."""
    write_all(conn, [Insert(table, rows)])


def write_all(conn: Connection, operations: Sequence[Operation]) -> None:
    """Apply ``operations`` in order inside the connection's transaction (begun if none is
    open, as an execute would)."""
    operations = [op for op in operations if op.rows]
    if not operations:
        return
    if conn.dialect.name != "postgresql":  # SQLite
        for op in operations:
            rows = op.rows
            if isinstance(op, Insert) and op.same:
                rows = [{**op.same, **row} for row in rows]
            columns = tuple(rows[0])
            sql, order, convert = _sqlite_sql(conn.dialect, op.table, columns, _keys(op),
                                              isinstance(op, Delete))
            conn.exec_driver_sql(sql, _driver_rows(rows, order, convert))
        return
    if not conn.in_transaction():
        conn.begin()  # as an execute would (autobegin): the writes belong to this transaction
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.pipeline(), driver.cursor() as cursor:
        for op in operations:
            columns = tuple(op.rows[0])
            shared = op.same if isinstance(op, Insert) else {}
            sql = _pg_sql(op.table, columns, _keys(op), isinstance(op, Delete), tuple(shared))
            cursor.execute(sql, [*shared.values(),
                                 *(list(map(itemgetter(c), op.rows)) for c in columns)])


def _keys(op: Operation) -> tuple[str, ...] | None:
    """The columns an operation matches rows by (None: an Insert matches none)."""
    if isinstance(op, Update):
        return op.keys
    return tuple(op.rows[0]) if isinstance(op, Delete) else None


def _driver_rows(rows: Sequence[Row], order: tuple[str, ...],
                 convert: Sequence[Callable[[Any], Any] | None]) -> list[tuple[Any, ...]]:
    """``rows`` as parameter tuples in ``order``, each column through its ``convert``
    function (SQLAlchemy's bind processor: datetimes in SQLite's text form) where it has one."""
    get = itemgetter(*order)
    return converted([get(row) for row in rows] if len(order) > 1 else
                     [(row[order[0]],) for row in rows], convert)


def _statement(table: Table, columns: tuple[str, ...], keys: tuple[str, ...] | None,
               deletes: bool) -> Any:
    """The SQLAlchemy statement writing ``columns`` (an Update's parameters are named
    k_COLUMN for its ``keys`` and v_COLUMN for the values it sets; a Delete's ``keys`` are
    its ``columns``)."""
    if keys is None:
        return insert(table)
    c = table.c
    if deletes:
        return delete(table).where(and_(*(c[k] == bindparam(f"k_{k}") for k in keys)))
    return (update(table)
            .where(and_(*(c[k] == bindparam(f"k_{k}") for k in keys)))
            .values({name: bindparam(f"v_{name}") for name in columns if name not in keys}))


@lru_cache(maxsize=64)
def _sqlite_sql(dialect: Any, table: Table, columns: tuple[str, ...],
                keys: tuple[str, ...] | None,
                deletes: bool = False) -> tuple[str, tuple[str, ...],
                                                      tuple[Callable[[Any], Any] | None, ...]]:
    """SQLite: the statement with ``?`` parameters, the columns in parameter order and each
    one's SQLAlchemy bind processor (None: the value goes as it is)."""
    compiled = _statement(table, columns, keys, deletes).compile(
        dialect=dialect, column_keys=list(columns) if keys is None else None)
    order = tuple(name if keys is None else name[2:] for name in compiled.positiontup or ())
    assert sorted(order) == sorted(columns), (order, columns)
    convert = tuple(table.c[name].type.dialect_impl(dialect).bind_processor(dialect)
                    for name in order)
    return str(compiled), order, (convert if any(convert) else ())


@lru_cache(maxsize=64)
def _pg_sql(table: Table, columns: tuple[str, ...], keys: tuple[str, ...] | None,
            deletes: bool = False, same: tuple[str, ...] = ()) -> str:
    """The PostgreSQL statement writing rows given as one array parameter per column (after
    one scalar parameter per column in ``same``, for an Insert)."""
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    quote = dialect.identifier_preparer
    name = quote.format_table(table)
    arrays = ", ".join(f"%b::{table.c[c].type.compile(dialect=dialect)}[]" for c in columns)
    listed = ", ".join(quote.quote(c) for c in columns)
    if keys is None:
        shared = "".join(f"%b::{table.c[c].type.compile(dialect=dialect)}, " for c in same)
        listed = ", ".join(quote.quote(c) for c in (*same, *columns))
        return f"INSERT INTO {name} ({listed}) SELECT {shared}* FROM unnest({arrays})"
    match = " AND ".join(f"{name}.{quote.quote(k)} = v.{quote.quote(k)}" for k in keys)
    if deletes:
        return f"DELETE FROM {name} USING unnest({arrays}) AS v({listed}) WHERE {match}"
    sets = ", ".join(f"{quote.quote(c)} = v.{quote.quote(c)}" for c in columns if c not in keys)
    return f"UPDATE {name} SET {sets} FROM unnest({arrays}) AS v({listed}) WHERE {match}"
