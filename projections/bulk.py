"""Writing read-model rows in bulk: multi-row statements, COPY, set-based upserts.

Within a batch the read models fold their rows in memory and write them here at the
end, with a few statements: one transaction per event tops out near 1,500 events/s on
PostgreSQL; per page it does tens of thousands. From ``COPY_THRESHOLD`` rows on,
PostgreSQL writes go through COPY (into the table, or into a temporary twin followed by
one ``INSERT … ON CONFLICT DO UPDATE``); SQLite and small batches use SQLAlchemy
statements.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from sqlalchemy import Connection, DateTime, Table
from sqlalchemy.dialects import postgresql, sqlite

#: From this many rows on, PostgreSQL writes go through COPY: one statement per row,
#: even pipelined, is what kept catch-up near 13,000 events/s.
COPY_THRESHOLD = 50


def bindable(table: Table, rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for SQLAlchemy statements: datetimes kept as ISO text become datetimes."""
    stamps = [c.name for c in table.columns if isinstance(c.type, DateTime)]
    out = []
    for r in rows:
        fixed = {k: datetime.fromisoformat(r[k]) for k in stamps if isinstance(r.get(k), str)}
        out.append({**r, **fixed} if fixed else r)
    return out


def upsert(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Insert rows, or update every non-key column where the primary key exists."""
    if not rows:
        return
    keys = [c.name for c in table.primary_key.columns]
    dialect = conn.dialect.name
    if dialect == "postgresql" and len(rows) >= COPY_THRESHOLD:
        _copy_upsert(conn, table, rows, keys)
        return
    stmt: Any
    if dialect == "postgresql":
        stmt = postgresql.insert(table)
    else:
        assert dialect == "sqlite", dialect
        stmt = sqlite.insert(table)
    stmt = stmt.on_conflict_do_update(
        index_elements=keys,
        set_={c.name: stmt.excluded[c.name] for c in table.columns if c.name not in keys},
    )
    conn.execute(stmt, bindable(table, rows))


def insert_rows(conn: Connection, table: Table, rows: Sequence[dict[str, Any]]) -> None:
    """Plain inserts (COPY on PostgreSQL when there are many)."""
    if not rows:
        return
    if conn.dialect.name == "postgresql" and len(rows) >= COPY_THRESHOLD:
        _copy(conn, table.name, [c.name for c in table.columns], rows)
        return
    conn.execute(table.insert(), bindable(table, rows))


def chunks(items: Sequence[Any], n: int = 500) -> Iterable[Sequence[Any]]:
    """``items`` in slices of at most ``n`` (for ``IN (…)`` lists of bounded length)."""
    for i in range(0, len(items), n):
        yield items[i : i + n]


def _copy(
    conn: Connection, target: str, columns: list[str], rows: Sequence[dict[str, Any]]
) -> None:
    raw = conn.connection.driver_connection
    assert raw is not None
    cols = ", ".join(f'"{c}"' for c in columns)
    values = itemgetter(*columns)
    with raw.cursor() as cur, cur.copy(f'COPY "{target}" ({cols}) FROM STDIN') as copy:
        write = copy.write_row
        for r in rows:
            write(values(r))


def _copy_upsert(
    conn: Connection, table: Table, rows: Sequence[dict[str, Any]], keys: list[str]
) -> None:
    # COPY into a per-transaction temporary twin, then one set-based upsert.
    tmp = f"tmp_{table.name}"
    columns = [c.name for c in table.columns]
    conn.exec_driver_sql(
        f'CREATE TEMP TABLE IF NOT EXISTS "{tmp}" (LIKE "{table.name}") ON COMMIT DELETE ROWS'
    )
    _copy(conn, tmp, columns, rows)
    cols = ", ".join(f'"{c}"' for c in columns)
    updates = ", ".join(f'"{c}" = EXCLUDED."{c}"' for c in columns if c not in keys)
    # Names come from the table definitions, never from input.
    conn.exec_driver_sql(
        f'INSERT INTO "{table.name}" ({cols}) SELECT {cols} FROM "{tmp}" '  # noqa: S608
        f"ON CONFLICT ({', '.join(keys)}) DO UPDATE SET {updates}"
    )
    conn.exec_driver_sql(f'DELETE FROM "{tmp}"')  # noqa: S608
