"""The catalog's tenant rows, kept in each process for the requests that route by them.

Every request looks its tenant up by slug. With the catalog in SQLite (one machine),
rows are kept until the catalog changes: a private connection of the process asks
SQLite's ``PRAGMA data_version`` before each lookup, and that number moves whenever
any other connection commits to the catalog file: a suspend, delete, rename, move or
sign-up made by a command, another worker or this one takes effect on the next request.
A write not yet committed is not seen by other connections either; a lookup from inside
a catalog transaction reads the catalog itself.

With a shared catalog server (PostgreSQL, several nodes) nothing tells a process that a
row changed, so rows are kept ``TENANT_CATALOG_CACHE_SECONDS`` at most (0, the default,
keeps none): a change takes effect within that time. Callers trust a kept row only when
it says "serve here" (``apps.tenancy.fleet.selectors.tenant_get_for_request``), and read
the catalog again otherwise.
"""

from __future__ import annotations

import functools
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Hashable
from pathlib import Path
from typing import Any, TypeVar

from django.conf import settings
from django.core.signals import setting_changed
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import Model
from django.db.models.base import ModelState
from django.dispatch import receiver

from apps.tenancy.routing.databases import sqlite_uri

M = TypeVar("M", bound=Model)
_lock = threading.Lock()
_inherited: list[Any] = []
# slug -> (validity, row); ("instance", slug) -> (validity, model instance)
_rows: OrderedDict[Hashable, tuple[Any, Any]] = OrderedDict()
_watch: dict[str, Any] = {}  # this process's connection that watches the catalog file
DATA_VERSION_SQL = "PRAGMA data_version"


def cached_copy(slug: str, read: Callable[[str], M | None]) -> M | None:
    """Return a copy of the model instance ``read(slug)`` returns, kept as rows are kept.

    The kept instance itself is never handed out: each call gets its own copy, made by
    copying its field values (a model's ``__init__`` costs ten times as much), so what a
    caller changes or loads on it (a deferred field) stays the caller's.
    """
    kept = _cached(("instance", slug), slug, read)
    return None if kept is None else _copy(kept)


def _cached(key: Hashable, slug: str, read: Callable[[str], Any]) -> Any:
    now = _validity()
    if now is None:
        return read(slug)
    with _lock:
        kept = _rows.get(key)
        if kept is not None and _still_valid(kept[0], now):
            _rows.move_to_end(key)
            return kept[1]
    row = read(slug)
    if row is None and now[0] != "version":
        return row  # an unknown slug is remembered only where sign-ups are seen at once
    if now[0] == "ttl":
        now = ("until", time.monotonic() + settings.TENANT_CATALOG_CACHE_SECONDS)
    with _lock:
        _rows[key] = (now, row)
        _rows.move_to_end(key)
        while len(_rows) > settings.TENANT_CATALOG_CACHE_SIZE:
            _rows.popitem(last=False)
    return row


def _copy(instance: M) -> M:
    """Return a new instance with the same field values, as loaded from the database."""
    copy = instance.__class__.__new__(instance.__class__)
    copy.__dict__.update(instance.__dict__)
    copy._state = ModelState()
    copy._state.db, copy._state.adding = instance._state.db, False
    return copy


def exact() -> bool:
    """Return True if a kept row (``cached_copy``) is always the catalog's current one.

    So it is with a SQLite catalog, and where rows are not kept at all. Asked by every
    request: the answer is kept until a setting it depends on changes (tests).
    """
    return _exact()


@functools.cache
def _exact() -> bool:
    if connections[DEFAULT_DB_ALIAS].vendor == "sqlite":
        return True
    return settings.TENANT_CATALOG_CACHE_SECONDS <= 0 or settings.TENANT_CATALOG_CACHE_SIZE <= 0


@receiver(setting_changed)
def _forget_exact(*, setting: str, **kwargs: Any) -> None:
    if setting in ("DATABASES", "TENANT_CATALOG_CACHE_SECONDS", "TENANT_CATALOG_CACHE_SIZE"):
        _exact.cache_clear()


def forget() -> None:
    """Drop every kept row of this process."""
    with _lock:
        _rows.clear()


def _validity() -> tuple[Any, ...] | None:
    """Return what kept rows are checked against now, or None when none may be used."""
    catalog = connections[DEFAULT_DB_ALIAS]
    if catalog.in_atomic_block or settings.TENANT_CATALOG_CACHE_SIZE <= 0:
        return None
    name = catalog.settings_dict["NAME"]
    if catalog.vendor != "sqlite":
        return ("ttl",) if settings.TENANT_CATALOG_CACHE_SECONDS > 0 else None
    # A forked child finds no watch (_forget_watch_in_child): no getpid() a request.
    if _watch.get("name") != name:
        if catalog.is_in_memory_db():  # type: ignore[attr-defined]
            return None
        _watch_catalog(name)
    with _lock:
        return ("version", _watch["cursor"].execute(DATA_VERSION_SQL).fetchone()[0])


def _still_valid(kept: tuple[Any, ...], now: tuple[Any, ...]) -> bool:
    if now[0] == "ttl":
        return kept[0] == "until" and time.monotonic() < kept[1]
    return kept == now


def _forget_watch_in_child() -> None:
    """After a fork: the parent's watching connection is never used, nor closed, here."""
    if _watch:
        _inherited.append(_watch.get("connection"))
        _watch.clear()  # the next check opens the child's own (and forgets the rows kept)


os.register_at_fork(after_in_child=_forget_watch_in_child)


def _watch_catalog(name: Any) -> None:
    """Open this process's own connection to the catalog file, to ask its change counter."""
    with _lock:
        if _watch.get("pid") == os.getpid():
            _watch["connection"].close()
        else:  # inherited through fork: closing it here could drop the parent's locks
            _inherited.append(_watch.get("connection"))
        connection = sqlite3.connect(
            sqlite_uri(Path(name).resolve()),
            uri=True,
            check_same_thread=False,
            isolation_level=None,
        )
        # One cursor, used under the lock: a request's check makes no new cursor.
        _watch.update(pid=os.getpid(), name=name, connection=connection, cursor=connection.cursor())
        _rows.clear()
