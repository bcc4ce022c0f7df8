"""Insert many rows in one round trip.

psycopg's ``executemany`` sends one ``INSERT`` per row (pipelined): about 25 µs a row on this
machine, so a 1,000-metric batch spent most of its time there. On Postgres the rows go through
``COPY … FROM STDIN`` on the same connection and transaction instead; SQLite's ``executemany``
is a C loop already and is kept. Every row must have the same keys. COPY bypasses SQLAlchemy's
type processing, so a table with a decorated column type (``Json``, ``UtcDateTime``) keeps
``executemany``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, Table, TypeDecorator, insert

COPY_FROM = 20  # fewer rows than this: executemany is as quick


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    if not rows:
        return
    columns = list(rows[0])
    plain = not any(isinstance(table.c[c].type, TypeDecorator) for c in columns)
    if conn.dialect.name != "postgresql" or len(rows) < COPY_FROM or not plain:
        conn.execute(insert(table), list(rows))
        return
    from psycopg import sql

    statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
        sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
    )
    raw = conn.connection.dbapi_connection
    with raw.cursor() as cursor, cursor.copy(statement) as copy:  # type: ignore[union-attr]
        for row in rows:
            copy.write_row([row[c] for c in columns])
