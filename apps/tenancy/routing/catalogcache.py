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
it says "serve here" (``apps.tenancy.routing.middleware``), and read the catalog again otherwise.
"""

from __future__ import annotations

import os
import sqlite3
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections

from apps.tenancy.routing.databases import sqlite_uri

Row = tuple[Any, ...] | None
_lock = threading.Lock()
_inherited: list[Any] = []
_rows: OrderedDict[str, tuple[Any, Row]] = OrderedDict()  # slug -> (validity, row)
_watch: dict[str, Any] = {}  # this process's connection that watches the catalog file


def cached_row(slug: str, read: Callable[[str], Row]) -> Row:
    """Return the catalog row of this slug: kept, or ``read(slug)`` and kept."""
    now = _validity()
    if now is None:
        return read(slug)
    with _lock:
        kept = _rows.get(slug)
        if kept is not None and _still_valid(kept[0], now):
            _rows.move_to_end(slug)
            return kept[1]
    row = read(slug)
    if row is None and now[0] != "version":
        return row  # an unknown slug is remembered only where sign-ups are seen at once
    if now[0] == "ttl":
        now = ("until", time.monotonic() + settings.TENANT_CATALOG_CACHE_SECONDS)
    with _lock:
        _rows[slug] = (now, row)
        _rows.move_to_end(slug)
        while len(_rows) > settings.TENANT_CATALOG_CACHE_SIZE:
            _rows.popitem(last=False)
    return row


def exact() -> bool:
    """Return True if a row from ``cached_row`` is always the catalog's current one.

    So it is with a SQLite catalog, and where rows are not kept at all.
    """
    if connections[DEFAULT_DB_ALIAS].vendor == "sqlite":
        return True
    return settings.TENANT_CATALOG_CACHE_SECONDS <= 0 or settings.TENANT_CATALOG_CACHE_SIZE <= 0


def forget() -> None:
    """Drop every kept row of this process."""
    with _lock:
        _rows.clear()


def _validity() -> tuple[Any, ...] | None:
    """Return what kept rows are checked against now, or None when none may be used."""
    catalog = connections[DEFAULT_DB_ALIAS]
    if catalog.in_atomic_block or settings.TENANT_CATALOG_CACHE_SIZE <= 0:
        return None
    if catalog.vendor != "sqlite":
        return ("ttl",) if settings.TENANT_CATALOG_CACHE_SECONDS > 0 else None
    if catalog.is_in_memory_db():  # type: ignore[attr-defined]
        return None
    return ("version", _data_version(str(catalog.settings_dict["NAME"])))


def _still_valid(kept: tuple[Any, ...], now: tuple[Any, ...]) -> bool:
    if now[0] == "ttl":
        return kept[0] == "until" and time.monotonic() < kept[1]
    return kept == now


def _data_version(name: str) -> int:
    """Return the catalog file's change counter, as this process's own connection sees it."""
    with _lock:
        if _watch.get("pid") != os.getpid() or _watch.get("name") != name:
            if _watch.get("pid") == os.getpid():
                _watch["connection"].close()
            else:  # inherited through fork: closing it here could drop the parent's locks
                _inherited.append(_watch.get("connection"))
            _watch.update(
                pid=os.getpid(),
                name=name,
                connection=sqlite3.connect(
                    sqlite_uri(Path(name).resolve()),
                    uri=True,
                    check_same_thread=False,
                    isolation_level=None,
                ),
            )
            _rows.clear()
        return int(_watch["connection"].execute("PRAGMA data_version").fetchone()[0])
