"""The unit of work: the one door through which the product writes to its workspace.

Django's ``transaction.atomic()`` leaves the alias to the caller, and a caller who
forgets gets the default database: the catalog. Here the alias is never the caller's
choice. ``atomic()`` opens its transaction on the current workspace's own file, after
checking that this thread's connection is still on the file now at the workspace's
path (a rename, restore or delete may have swapped it).

The transaction begins with ``BEGIN IMMEDIATE``: it takes the workspace's write lock
at its first statement, so whatever a block reads to check an invariant cannot change
before it writes. That is this engine's ``select_for_update``; it locks one workspace
and nothing else (never the catalog).

Every committed transaction that changed a row advances the workspace's commit
position inside the same transaction (``quire_commit_position``, kept by the tenant
connection itself, so Django's own writes count too: sessions, the admin): monotonic,
as durable as the write, and carried with the file. What must happen "after this
write" hangs on ``on_commit``.
"""

from __future__ import annotations

from collections.abc import Callable
from contextlib import ContextDecorator
from typing import Any

from django.db import connections, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.utils import CursorWrapper
from django.db.transaction import Atomic

from apps.tenancy.exceptions import ReplicaReadOnly
from apps.tenancy.nodes.bookmarks import READ_SQL
from apps.tenancy.routing.context import require_current_tenant
from apps.tenancy.routing.databases import bind, reading_replica


class atomic(ContextDecorator):
    """Run a block in one transaction on the current workspace's file.

    Nested blocks become savepoints, as with Django's ``atomic``. Usable as a
    decorator (``@atomic()``); the workspace is the one active when the block starts.
    """

    def __init__(self, *, durable: bool = False) -> None:
        self.durable = durable
        self._blocks: list[Atomic] = []

    def _recreate_cm(self) -> atomic:
        # A fresh instance per decorated call keeps concurrent calls apart.
        return type(self)(durable=self.durable)

    def __enter__(self) -> None:
        if reading_replica():
            raise ReplicaReadOnly(
                "This request is served from a read replica; writes go to the primary."
            )
        block = transaction.atomic(using=current_connection().alias, durable=self.durable)
        block.__enter__()
        self._blocks.append(block)

    def __exit__(self, exc_type: Any, exc: Any, traceback: Any) -> None:
        self._blocks.pop().__exit__(exc_type, exc, traceback)


def current_connection() -> BaseDatabaseWrapper:
    """Return this thread's connection to the current workspace's file."""
    tenant = require_current_tenant()
    return connections[bind(tenant.slug, max_bytes=tenant.max_db_bytes)]


def cursor() -> CursorWrapper:
    """Return a cursor on the current workspace's file, for SQL the ORM cannot say."""
    return current_connection().cursor()


def on_commit(callback: Callable[[], Any], *, robust: bool = False) -> None:
    """Run ``callback`` once the current workspace's transaction commits (now if none)."""
    transaction.on_commit(callback, using=current_connection().alias, robust=robust)


def commit_position() -> int:
    """Return how many write transactions the current workspace has committed."""
    with cursor() as position_cursor:
        position_cursor.execute(READ_SQL)
        row = position_cursor.fetchone()
    return int(row[1]) if row else 0
