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
and is not offered inside a transaction (whose reads may be rolled back).

A request reading the local replica gets a memo of the state it sees: its read-only
connection holds one read transaction for the request, and the file's position read in
it (``replica_position``) names that state exactly. Such memos are shared by the
process's threads, keyed by workspace, the replica file's inode and that position; only
the last few positions of each workspace are kept. A replica is never written by a
request, so entries are only ever read through.
"""

from __future__ import annotations

import sqlite3
import threading
from collections import OrderedDict
from collections.abc import Hashable
from typing import Any, cast

from django.db import connections

from apps.tenancy.routing.context import get_current_tenant
from apps.tenancy.routing.databases import TenantDatabaseWrapper, reading_replica, tenant_alias

MAX_ENTRIES = 512  # per connection; a workspace's signed-in sessions seen by one thread
REPLICA_POSITIONS = 3  # per workspace: the replica's states requests may still be reading
REPLICA_WORKSPACES = 256  # replicas with memos kept in this process
_ATTRIBUTE = "quire_memo"

_ReplicaState = tuple[int | None, int, int]  # the replica file's inode, epoch, position
_replica_memos: OrderedDict[str, OrderedDict[_ReplicaState, dict[Hashable, Any]]] = OrderedDict()
_replica_lock = threading.Lock()


class _Memo:
    __slots__ = ("entries", "raw", "stamp")

    def __init__(self, raw: sqlite3.Connection, stamp: tuple[int, int]) -> None:
        self.raw = raw
        self.stamp = stamp
        self.entries: dict[Hashable, Any] = {}


def workspace_memo() -> dict[Hashable, Any] | None:
    """Return this thread's memo of the current workspace, or None where none may be kept."""
    tenant = get_current_tenant()
    if tenant is None:
        return None
    wrapper = connections[tenant_alias(tenant.slug, max_bytes=tenant.max_db_bytes)]
    if reading_replica():
        return _replica_memo(tenant.slug, cast(TenantDatabaseWrapper, wrapper))
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


def _replica_memo(slug: str, wrapper: TenantDatabaseWrapper) -> dict[Hashable, Any] | None:
    """Return the memo of the replica state this request reads, or None if it names none."""
    position = wrapper.replica_position()
    if position is None:
        return None
    state = (wrapper.opened_inode, *position)
    with _replica_lock:
        states = _replica_memos.get(slug)
        if states is None:
            states = _replica_memos[slug] = OrderedDict()
            while len(_replica_memos) > REPLICA_WORKSPACES:
                _replica_memos.popitem(last=False)
        else:
            _replica_memos.move_to_end(slug)
        entries = states.get(state)
        if entries is None:
            entries = states[state] = {}
            while len(states) > REPLICA_POSITIONS:
                states.popitem(last=False)
        else:
            states.move_to_end(state)
        if len(entries) >= MAX_ENTRIES:
            entries.clear()
        return entries


def _data_version(wrapper: Any, raw: sqlite3.Connection) -> int:
    """Return the file's change counter; the pragma is exempt from the query time limit."""
    deadline, wrapper.query_deadline = getattr(wrapper, "query_deadline", None), None
    try:
        return int(raw.execute("PRAGMA data_version").fetchone()[0])
    finally:
        wrapper.query_deadline = deadline
