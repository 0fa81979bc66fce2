"""Reads of the current workspace kept in memory until its file next changes.

Every request reads the same few rows (its session, its user) that change only when
something writes to the workspace. ``workspace_memo()`` returns a dict that this thread
may keep such reads in; it is emptied as soon as the workspace's file changes, which
SQLite itself tells: ``PRAGMA data_version`` on the connection moves when any other
connection (another thread, worker, command or node-local process) commits, and the
connection's ``total_changes`` moves with its own writes. Nothing has to remember to
invalidate it: Django's own writes (session saves, sign-in times, the admin) count as
much as the unit of work's.

The memo belongs to this thread's connection to the workspace's file, so it is never
shared between workspaces or threads, goes when the connection is closed or evicted,
and is not offered inside a transaction (whose reads may be rolled back) nor while a
request reads a replica.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable
from typing import Any

from django.db import connections

from apps.tenancy.context import get_current_tenant
from apps.tenancy.databases import reading_replica, tenant_alias

MAX_ENTRIES = 512  # per connection; a workspace's signed-in sessions seen by one thread
_ATTRIBUTE = "quire_memo"


class _Memo:
    __slots__ = ("entries", "raw", "stamp")

    def __init__(self, raw: sqlite3.Connection, stamp: tuple[int, int]) -> None:
        self.raw = raw
        self.stamp = stamp
        self.entries: dict[Hashable, Any] = {}


def workspace_memo() -> dict[Hashable, Any] | None:
    """Return this thread's memo of the current workspace, or None where none may be kept."""
    tenant = get_current_tenant()
    if tenant is None or reading_replica():
        return None
    wrapper = connections[tenant_alias(tenant.slug, max_bytes=tenant.max_db_bytes)]
    if wrapper.in_atomic_block:
        return None
    with wrapper.wrap_database_errors:
        wrapper.ensure_connection()
        raw = wrapper.connection
        if raw.in_transaction:
            return None
        stamp = (_data_version(wrapper, raw), raw.total_changes)
    memo: _Memo | None = getattr(wrapper, _ATTRIBUTE, None)
    if memo is None or memo.raw is not raw or memo.stamp != stamp:
        memo = _Memo(raw, stamp)
        setattr(wrapper, _ATTRIBUTE, memo)
    elif len(memo.entries) >= MAX_ENTRIES:
        memo.entries.clear()
    return memo.entries


def _data_version(wrapper: Any, raw: sqlite3.Connection) -> int:
    """Return the file's change counter; the pragma is exempt from the query time limit."""
    deadline, wrapper.query_deadline = getattr(wrapper, "query_deadline", None), None
    try:
        return int(raw.execute("PRAGMA data_version").fetchone()[0])
    finally:
        wrapper.query_deadline = deadline
