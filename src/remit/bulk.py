"""Bulk reads and writes between Polars frames and the store, for the engines' million-row
work: ``COPY`` on PostgreSQL, batched driver inserts and one-parameter lookups on SQLite
(the bulk writes of ARCHITECTURE.md). Values go through the driver or CSV, never through
SQL text, except in ``read_frame``, whose query must hold numbers and dates only.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import polars as pl
from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Connection,
    Select,
    Table,
    Text,
    any_,
    bindparam,
    false,
    func,
    literal_column,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY

from remit.db import is_postgres

BATCH = 50_000
# After a bulk write of this many rows PostgreSQL's statistics of the table are refreshed in
# the same transaction (``ANALYZE``): until autovacuum comes round, the planner would take a
# table just loaded with a million rows for an empty one, and a lookup by an array of
# references in the next import became a sequential scan of the million (98 s instead of
# under one for 8,311 late records, bench/care_book.py).
ANALYZE_ROWS = 20_000


def among(
    conn: Connection, column: Any, values: Iterable[int] | Iterable[str]
) -> ColumnElement[bool]:
    """``column IN values`` with the values as one bound value, however many: an array on
    PostgreSQL (``= ANY``), a JSON array read by ``json_each`` on SQLite. An IN list of
    10,000 bound values cost more to build and send (SQLAlchemy's expansion of the list,
    psycopg's split of 10,000 placeholders) than the database took to run it: about 5 s of
    a 100,000-payment release on PostgreSQL, in 10,000-id chunks.

    >>> from sqlalchemy import create_engine, Integer, MetaData, Column
    >>> table = Table("t", MetaData(), Column("id", Integer, primary_key=True))
    >>> engine = create_engine("sqlite://")
    >>> table.metadata.create_all(engine)
    >>> with engine.begin() as conn:
    ...     _ = conn.execute(table.insert(), [{"id": n} for n in range(1, 6)])
    ...     query = select(table.c.id).where(among(conn, table.c.id, [2, 4, 9]))
    ...     sorted(conn.execute(query).scalars())
    [2, 4]
    """
    listed = list(values)
    if not listed:
        return false()
    if is_postgres(conn):
        numbers = all(isinstance(v, int) for v in listed)
        array = ARRAY(BigInteger() if numbers else Text())
        return column == any_(bindparam(None, listed, type_=array))  # type: ignore[no-any-return]
    rows: Select[Any] = select(literal_column("value")).select_from(
        func.json_each(json.dumps(listed))
    )
    return column.in_(rows)  # type: ignore[no-any-return]


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
