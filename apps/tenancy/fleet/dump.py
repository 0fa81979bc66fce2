"""A SQL dump of a tenant database that re-imports, full-text tables included.

Python's ``Connection.iterdump()`` writes FTS5 tables through ``writable_schema`` and
then inserts into them before SQLite knows them, so its dumps fail to load. This dump
skips the shadow tables SQLite manages, recreates virtual tables with their own
statement, fills them through the virtual table (or rebuilds an external-content
index from its content table), and creates triggers only after the data is in.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Iterator

EXTERNAL_CONTENT = re.compile(r"content\s*=\s*'([^']*)'", re.IGNORECASE)


def iter_dump(connection: sqlite3.Connection) -> Iterator[str]:
    """Yield the SQL statements that rebuild this database, read in one snapshot."""
    connection.execute("BEGIN")
    try:
        yield "PRAGMA foreign_keys=OFF;"
        yield "BEGIN TRANSACTION;"
        kinds = _table_kinds(connection)
        tables = _schema(connection, "table")
        for name, sql in tables:
            if kinds.get(name) == "table" and not name.startswith("sqlite_"):
                yield f"{sql};"
                yield from _rows(connection, name, rowid=False)
        yield from _sequence(connection)
        for name, sql in tables:
            if kinds.get(name) == "virtual":
                yield f"{sql};"
                yield from _virtual_rows(connection, name, sql)
        for kind in ("index", "view", "trigger"):
            for _name, sql in _schema(connection, kind):
                yield f"{sql};"
        yield "COMMIT;"
    finally:
        connection.execute("COMMIT")


def _table_kinds(connection: sqlite3.Connection) -> dict[str, str]:
    """Return table name -> 'table', 'virtual' or 'shadow' for the main schema."""
    rows = connection.execute("SELECT name, type FROM pragma_table_list WHERE schema = 'main'")
    return dict(rows.fetchall())


def _schema(connection: sqlite3.Connection, kind: str) -> list[tuple[str, str]]:
    rows = connection.execute(
        "SELECT name, sql FROM sqlite_schema WHERE type = ? AND sql IS NOT NULL ORDER BY rowid",
        (kind,),
    )
    return rows.fetchall()


def _columns(connection: sqlite3.Connection, table: str) -> list[str]:
    return [row[1] for row in connection.execute(f"PRAGMA table_info({_quote(table)})")]


def _rows(connection: sqlite3.Connection, table: str, *, rowid: bool) -> Iterator[str]:
    """Yield one INSERT per row, values quoted by SQLite itself."""
    columns = (["rowid"] if rowid else []) + _columns(connection, table)
    names = ", ".join(_quote(column) for column in columns)
    values = " || ',' || ".join(f"quote({_quote(column)})" for column in columns)
    query = f"SELECT {values} FROM {_quote(table)}"  # noqa: S608 (names come from the schema)
    for (row,) in connection.execute(query):
        yield f"INSERT INTO {_quote(table)}({names}) VALUES({row});"


def _sequence(connection: sqlite3.Connection) -> Iterator[str]:
    exists = connection.execute(
        "SELECT 1 FROM sqlite_schema WHERE name = 'sqlite_sequence'"
    ).fetchone()
    if exists:
        yield "DELETE FROM sqlite_sequence;"
        yield from _rows(connection, "sqlite_sequence", rowid=False)


def _virtual_rows(connection: sqlite3.Connection, name: str, sql: str) -> Iterator[str]:
    """Fill a full-text table: its own rows, or a rebuild from its content table."""
    match = EXTERNAL_CONTENT.search(sql)
    if match is None:
        yield from _rows(connection, name, rowid=True)
    elif match.group(1):
        yield f"INSERT INTO {_quote(name)}({_quote(name)}) VALUES('rebuild');"
    else:
        raise ValueError(f"Cannot export the contentless full-text table {name!r}.")


def _quote(identifier: str) -> str:
    return '"' + identifier.replace('"', '""') + '"'
