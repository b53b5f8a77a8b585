"""Bulk reads and writes between Polars frames and the store, for the engines' million-row
work: ``COPY`` on PostgreSQL, batched driver inserts and one-parameter lookups on SQLite
(the bulk writes of ARCHITECTURE.md). Values go through the driver or CSV, never through
SQL text, except in ``read_frame``, whose query must hold numbers and dates only.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import Connection, Select, Table

from remit.db import is_postgres

BATCH = 50_000
# After a bulk write of this many rows PostgreSQL's statistics of the table are refreshed in
# the same transaction (``ANALYZE``): until autovacuum comes round, the planner would take a
# table just loaded with a million rows for an empty one, and a lookup by an array of
# references in the next import became a sequential scan of the million (98 s instead of
# under one for 8,311 late records, bench/care_book.py).
ANALYZE_ROWS = 20_000


def refs_taken(conn: Connection, table: Table, book_id: int, refs: Sequence[str]) -> set[str]:
    """Which of ``refs`` the book's ``table`` holds already: one query per 50,000 refs,
    the refs passed as one value (a JSON array on SQLite, an array on PostgreSQL)."""
    pg = is_postgres(conn)
    sql = (
        f"SELECT ref FROM {table.name} WHERE book_id = %s AND ref = ANY(%s)"
        if pg
        else f"SELECT ref FROM {table.name} WHERE book_id = ? AND ref IN "
        "(SELECT value FROM json_each(?))"
    )
    found: set[str] = set()
    for start in range(0, len(refs), BATCH):
        chunk = list(refs[start : start + BATCH])
        found.update(
            ref
            for (ref,) in conn.exec_driver_sql(sql, (book_id, chunk if pg else json.dumps(chunk)))
        )
    return found


def read_frame(
    conn: Connection, query: Select[Any], schema: Mapping[str, pl.DataType | type[pl.DataType]]
) -> pl.DataFrame:
    """A query's rows as a frame of the given columns and types: on PostgreSQL through
    ``COPY ... TO STDOUT`` as CSV (three times faster than rows through the driver for the
    engine's million-row reads; the query's values are rendered by SQLAlchemy's literal
    rendering, so give it numbers and dates only)."""
    if not is_postgres(conn):
        return pl.DataFrame(conn.execute(query).all(), orient="row", schema=schema)
    sql = str(query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True}))
    data = bytearray()
    cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    with cursor.copy(f"COPY ({sql}) TO STDOUT (FORMAT CSV)") as copy:
        for chunk in copy:
            data += chunk
    if not data:
        return pl.DataFrame(schema=schema)
    return pl.read_csv(bytes(data), has_header=False, schema=schema)


def insert_frame(conn: Connection, table: Table, frame: pl.DataFrame) -> None:
    """Insert a frame whose columns are the table's: COPY from CSV on PostgreSQL, batched
    executemany on SQLite (the bulk writes of ARCHITECTURE.md); nulls stay null."""
    if frame.is_empty():
        return
    names = ", ".join(frame.columns)
    if is_postgres(conn):
        # Strings are quoted, so that only a null is the unquoted NULL marker.
        cursor = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        with cursor.copy(
            f"COPY {table.name} ({names}) FROM STDIN (FORMAT CSV, NULL '\\N')"
        ) as copy:
            for start in range(0, frame.height, BATCH):
                copy.write(
                    frame.slice(start, BATCH).write_csv(
                        include_header=False, null_value="\\N", quote_style="non_numeric"
                    )
                )
        analyze_after(conn, table, frame.height)
        return
    sql = f"INSERT INTO {table.name} ({names}) VALUES ({', '.join('?' * frame.width)})"
    for start in range(0, frame.height, BATCH):
        conn.exec_driver_sql(sql, frame.slice(start, BATCH).rows())


def analyze_after(conn: Connection, table: Table, rows_written: int) -> None:
    """Refresh PostgreSQL's statistics of ``table`` after a bulk write of at least
    ``ANALYZE_ROWS`` rows (see ``ANALYZE_ROWS``); SQLite plans without them."""
    if rows_written >= ANALYZE_ROWS and is_postgres(conn):
        conn.exec_driver_sql(f"ANALYZE {table.name}")
