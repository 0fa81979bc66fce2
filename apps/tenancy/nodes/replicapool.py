"""Read connections to this node's replicas, kept open between requests.

Opening a connection (Django's set-up, then SQLite parsing the schema) is most of what
a replica page costs beyond the page itself, so a replica read connection is kept when
its request ends, and the next read of that replica takes it again. That is safe
because of how the supervisor publishes replicas and how Litestream's follower writes:

- A published generation uses a rollback journal (``supervisor.publish`` switches it
  from WAL), so an idle connection holds no lock on it; a connection to a WAL file holds
  a shared lock for its whole life, and the follower would wait behind it. A connection
  that finds WAL is not kept.
- The follower writes each change under SQLite's own exclusive lock bytes, so a read
  transaction sees one whole state, and waits while a change is being written. A
  connection is kept only outside its read transaction: the follower is held up by a
  request's reads, never by a kept connection.
- The follower does not always rewrite page 1, whose change counter is how SQLite
  learns that cached pages are stale, so a kept connection drops every cached page
  (``PRAGMA shrink_memory``) when it is put back: its next read transaction reads the
  file as it is. The parsed schema stays; SQLite checks it against the file's schema
  cookie in every transaction.
- A connection is kept on the generation file it opened (the symlink's target, a name
  that is never reused). It is taken again only while that generation is still the one
  published, and a thread of each process closes, every KEEP_CHECK_SECONDS, kept
  connections whose generation was replaced or removed, so a removed replica's disk
  space is freed even though this process had it open.

At most QUIRE_REPLICA_KEPT_CONNECTIONS are kept per process (0: none), the least
recently used closed first.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings

logger = logging.getLogger(__name__)
KEEP_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Kept:
    """An idle read connection on one generation file, and what its opener learnt."""

    raw: sqlite3.Connection
    path: Path  # the generation file (not the symlink)
    link: str  # the replica path it was published at
    target: str | None  # what the link says while this generation is published (None: no link)
    inode: int
    advance_sql: str | None


_lock = threading.Lock()
_kept: OrderedDict[int, Kept] = OrderedDict()  # id(raw) -> Kept, least recently used first
_state: dict[str, int] = {}  # "pid": the process the pool and its checker belong to


def published(link: Path) -> Path:
    """Return the generation file a replica path points at (itself if not a symlink)."""
    target = _target(str(link))
    return link if target is None else link.parent / target


def _target(link: str) -> str | None:
    try:
        return os.readlink(link)
    except OSError:  # not a symlink (a plain file), or absent
        return None


def take(path: Path) -> Kept | None:
    """Return a kept connection on this generation file, still published; None if none."""
    _own_process()
    stale: list[Kept] = []
    found = None
    with _lock:
        for key in reversed(_kept):
            kept = _kept[key]
            if kept.path == path:
                del _kept[key]
                if _current(kept):
                    found = kept
                    break
                stale.append(kept)
    _close(stale)
    return found


def keep(
    raw: sqlite3.Connection, *, path: Path, link: Path, inode: int | None, advance_sql: str | None
) -> bool:
    """Keep an idle read connection for a later read; return False if it cannot be kept.

    Its read transaction is ended and its cached pages dropped first. A connection on a
    WAL file, or beyond the cap, is not kept: the caller closes it. One on a generation
    no longer published is closed by ``take`` or the checker.
    """
    cap = settings.QUIRE_REPLICA_KEPT_CONNECTIONS
    if cap <= 0 or inode is None:
        return False
    try:
        if raw.in_transaction:
            raw.execute("ROLLBACK")
        if raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal":
            return False
        raw.execute("PRAGMA shrink_memory")
    except sqlite3.Error:
        return False
    target = None if path == link else path.name if path.parent == link.parent else str(path)
    kept = Kept(raw, path, str(link), target, inode, advance_sql)
    _own_process()
    with _lock:
        _kept[id(raw)] = kept
        overflow = [_kept.popitem(last=False)[1] for _ in range(max(0, len(_kept) - cap))]
    _close(overflow)
    return True


def kept_count() -> int:
    """Return how many idle replica connections this process keeps."""
    with _lock:
        return len(_kept)


def close_stale() -> int:
    """Close the kept connections whose generation is no longer published; return how many."""
    with _lock:
        stale = [key for key, kept in _kept.items() if not _current(kept)]
        gone = [_kept.pop(key) for key in stale]
    _close(gone)
    return len(gone)


def close_all() -> None:
    """Close every kept connection of this process."""
    with _lock:
        gone = list(_kept.values())
        _kept.clear()
    _close(gone)


def _current(kept: Kept) -> bool:
    """Return True while the kept connection's file is still the published generation."""
    if _target(kept.link) != kept.target:
        return False
    try:
        return os.stat(kept.path).st_ino == kept.inode
    except OSError:
        return False


def _close(gone: list[Kept]) -> None:
    for kept in gone:
        try:
            kept.raw.close()
        except sqlite3.Error as exc:
            logger.warning("Could not close a kept replica connection on %s: %s", kept.path, exc)


def _own_process() -> None:
    """Start this process's checker once; forget connections inherited across a fork."""
    pid = os.getpid()
    if _state.get("pid") == pid:
        return
    with _lock:
        if _state.get("pid") == pid:
            return
        _kept.clear()  # a parent's connections: never used, nor closed, in a child
        _state["pid"] = pid
        threading.Thread(target=_check_forever, name="quire-replica-pool", daemon=True).start()


def _check_forever() -> None:
    while True:
        time.sleep(KEEP_CHECK_SECONDS)
        close_stale()
