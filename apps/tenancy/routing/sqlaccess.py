"""Dedicated SQLite connections on a workspace's file, for SQL that clients send.

The SQL API (``apps.sqlapi``) must never share the app's pooled connections: it puts an
authorizer on its connection, runs statements clients wrote, and may hold a transaction
across requests. Here it gets a plain ``sqlite3`` connection of its own on the file at
the workspace's path (never created, ``mode=rw``; ``mode=ro`` for read-only access),
with the workspace's storage cap, foreign keys on, no ATTACH possible (which also stops
``VACUUM INTO``) and extension loading off. ``advance_position`` counts a write
transaction on the workspace's commit position, inside it, as every write must.
"""

from __future__ import annotations

import os
import sqlite3

from django.conf import settings

from apps.tenancy.models import Tenant
from apps.tenancy.nodes.bookmarks import READ_SQL
from apps.tenancy.routing.databases import (
    ADVANCE_SQL,
    ADVANCE_SQL_NO_EPOCH,
    POSITION_TABLE,
    database_path,
    require_database_file,
    sqlite_uri,
)
from apps.tenancy.routing.hosts import slug_from_host


def sql_connection(tenant: Tenant, *, read_only: bool) -> sqlite3.Connection:
    """Open a connection of its own on a servable tenant's file, in autocommit mode.

    Read-only connections open the file with ``mode=ro`` and ``query_only``: SQLite
    itself refuses every write. The caller owns the connection and closes it.
    """
    path = require_database_file(tenant.slug)
    connection = sqlite3.connect(
        sqlite_uri(path, "ro" if read_only else "rw"),
        uri=True,
        timeout=settings.TENANT_DB_TIMEOUT,
        isolation_level=None,
        check_same_thread=False,  # a transaction held across requests moves between threads
        cached_statements=64,
    )
    try:
        connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
        connection.execute("PRAGMA foreign_keys=ON")
        if read_only:
            connection.execute("PRAGMA query_only=ON")
        else:  # a read-only connection never writes: no cap to set
            _apply_cap(connection, tenant.storage_cap)
    except BaseException:
        connection.close()
        raise
    return connection


def slug_of_host(host: str) -> str | None:
    """Return the workspace slug a request's host names, or None for the public site.

    The same reading as ``TenantMiddleware`` (raises DisallowedHost outside the base
    domain), for endpoints answered before it runs.
    """
    return slug_from_host(host, settings.QUIRE_BASE_DOMAIN)


def same_file(tenant: Tenant, inode: int) -> bool:
    """Return True if the file at the tenant's path is still the one with this inode."""
    try:
        return os.stat(database_path(tenant.slug)).st_ino == inode
    except FileNotFoundError:
        return False


def file_inode(tenant: Tenant) -> int:
    """Return the inode of the tenant's database file (to notice a swapped file later)."""
    return os.stat(database_path(tenant.slug)).st_ino


def advance_position(connection: sqlite3.Connection) -> tuple[int, int] | None:
    """Count one more committed write transaction; return the new (epoch, position).

    Call it inside the write transaction (or right after an autocommit write), as the
    app's own connection does. A file that keeps no position returns None.
    """
    columns = {row[1] for row in connection.execute(f"PRAGMA main.table_info({POSITION_TABLE})")}
    if not columns:
        return None
    sql = ADVANCE_SQL if "epoch" in columns else ADVANCE_SQL_NO_EPOCH
    row = connection.execute(sql).fetchone()
    return (int(row[0]), int(row[1])) if row else None


def commit_position_of(connection: sqlite3.Connection) -> tuple[int, int] | None:
    """Return the (epoch, position) a connection sees now, or None if the file keeps none."""
    try:
        row = connection.execute(READ_SQL).fetchone()
    except sqlite3.OperationalError:  # no position table (a file from before positions)
        return None
    return (int(row[0]), int(row[1])) if row else None


def _apply_cap(connection: sqlite3.Connection, max_bytes: int) -> None:
    page_size = connection.execute("PRAGMA page_size").fetchone()[0]
    connection.execute(f"PRAGMA max_page_count = {max(1, max_bytes // page_size)}")
