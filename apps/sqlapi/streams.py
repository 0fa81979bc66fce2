"""Streams: a client's connection to a workspace, kept across HTTP requests by a baton.

A stream with nothing to remember (no open transaction, no stored SQL) is not kept: its
connection goes back to this process's pool and the client gets a baton that any
process accepts. A stream inside a transaction, or holding stored SQL, stays in this
process, with its connection, until the client sends its baton again, closes it, or
stays idle longer than SQLAPI_STREAM_IDLE_SECONDS: then a background thread rolls the
transaction back and closes it. Such a baton names this process: another worker process
of the machine that receives it hands the request over (``apps.sqlapi.relay``).
"""

from __future__ import annotations

import logging
import os
import secrets
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field

from django.conf import settings

from apps.sqlapi.protocol import ProtocolError, Session
from apps.sqlapi.surface import prepare
from apps.tenancy.models import Tenant
from apps.tenancy.routing.sqlaccess import file_inode, sql_connection

logger = logging.getLogger(__name__)
STATELESS = "s"
MAX_IDLE_PER_KEY = 4
MAX_IDLE = 64


class Elsewhere(Exception):
    """The baton names a stream another process of this machine holds."""

    def __init__(self, owner: str) -> None:
        super().__init__(owner)
        self.owner = owner


@dataclass(eq=False)
class Stream:
    """A session on one workspace's file, owned by one token."""

    slug: str
    token_id: int
    read_only: bool
    inode: int
    session: Session
    max_db_bytes: int | None = None  # the workspace's storage cap the connection enforces
    path: str = ""  # the file the connection opened (its name, as SQLite has it)
    stream_id: str = field(default_factory=lambda: secrets.token_urlsafe(18))
    lock: threading.Lock = field(default_factory=threading.Lock)
    idle_since: float = field(default_factory=time.monotonic)

    @property
    def stateful(self) -> bool:
        return not self.session.autocommit or bool(self.session.stored_sql)

    def on_its_file(self) -> bool:
        """Return True if the file at the stream's path is still the one it opened.

        (``sqlaccess.same_file``, without building the workspace's path on every call.)
        """
        try:
            return os.stat(self.path).st_ino == self.inode
        except FileNotFoundError:
            return False


_lock = threading.Lock()
_held: dict[str, Stream] = {}
_idle: OrderedDict[tuple[str, bool], list[Stream]] = OrderedDict()
_reaper: dict[str, threading.Thread | None] = {"thread": None}


def open_stream(tenant: Tenant, *, token_id: int, read_only: bool) -> Stream:
    """Return a fresh stream for this token: a pooled connection, or a new one."""
    key = (tenant.slug, read_only)
    with _lock:
        pooled = _idle.get(key) or []
        stream = pooled.pop() if pooled else None
    if stream is not None and stream.on_its_file() and stream.max_db_bytes == tenant.max_db_bytes:
        stream.token_id = token_id
        return stream
    if stream is not None:  # the file was replaced (restore, rename) or the cap changed
        _close(stream)
    connection = sql_connection(tenant, read_only=read_only)
    try:
        path = connection.execute("PRAGMA database_list").fetchone()[2]
        authorizer = prepare(connection, read_only=read_only)
        inode = file_inode(tenant)
    except (sqlite3.Error, OSError):
        connection.close()
        raise
    return Stream(
        slug=tenant.slug,
        token_id=token_id,
        read_only=read_only,
        inode=inode,
        session=Session(connection, authorizer),
        max_db_bytes=tenant.max_db_bytes,
        path=path,
    )


def resume(baton: str | None, tenant: Tenant, *, token_id: int, read_only: bool) -> Stream:
    """Return the stream a baton names, locked for this request, or a fresh one."""
    if not baton or baton.startswith(STATELESS + "."):
        stream = open_stream(tenant, token_id=token_id, read_only=read_only)
        stream.lock.acquire()
        return stream
    if not isinstance(baton, str) or baton.count(".") != 1:
        raise ProtocolError("The baton is not one this server gave.", "INVALID_BATON")
    owner, stream_id = baton.split(".")
    if owner != str(os.getpid()):
        if not owner.isdigit():
            raise ProtocolError("The baton is not one this server gave.", "INVALID_BATON")
        raise Elsewhere(owner)
    with _lock:
        held = _held.get(stream_id)
        if held is None or held.slug != tenant.slug or held.token_id != token_id:
            raise ProtocolError(
                "The stream has expired (idle too long; its transaction was rolled back) "
                "or was never open.",
                "STREAM_EXPIRED",
            )
        if not held.lock.acquire(blocking=False):
            raise ProtocolError("The stream is busy with another request.", "STREAM_BUSY")
        del _held[stream_id]
    if not held.on_its_file():  # restored or moved meanwhile: never the new file
        release(held)
        raise ProtocolError(
            "The workspace's database was replaced (a restore); the stream's transaction "
            "was rolled back.",
            "STREAM_EXPIRED",
        )
    return held


def park(stream: Stream) -> str:
    """Keep a stream for its next request (or pool its connection); return its baton."""
    stream.idle_since = time.monotonic()
    if not stream.stateful:
        stream.lock.release()
        _pool(stream)
        return f"{STATELESS}.{secrets.token_urlsafe(9)}"
    with _lock:
        held_here = sum(1 for held in _held.values() if held.slug == stream.slug)
        if held_here >= settings.SQLAPI_MAX_STREAMS:
            full = True
        else:
            full = False
            stream.stream_id = secrets.token_urlsafe(18)  # every baton serves once
            _held[stream.stream_id] = stream
    stream.lock.release()
    if full:
        close(stream)
        raise ProtocolError(
            f"The workspace already has {settings.SQLAPI_MAX_STREAMS} open transactions or "
            "streams; this one was rolled back and closed. Retry later.",
            "TOO_MANY_STREAMS",
            status=429,
        )
    _start_reaper()
    from apps.sqlapi import relay  # (relay runs requests, which use streams)

    relay.listen()  # other workers hand this stream's next request over
    return f"{os.getpid()}.{stream.stream_id}"


def close(stream: Stream) -> None:
    """End a stream: roll back what it left open, and pool its connection."""
    try:
        if stream.session.connection.in_transaction:
            stream.session.connection.rollback()
    except sqlite3.Error:
        _close(stream)
        return
    stream.session.stored_sql.clear()
    _pool(stream)


def release(stream: Stream) -> None:
    """Give up the request's hold on a stream that ends with this request."""
    if stream.lock.locked():
        stream.lock.release()
    close(stream)


def held_count(slug: str) -> int:
    """Return how many streams of a workspace this process keeps open."""
    with _lock:
        return sum(1 for stream in _held.values() if stream.slug == slug)


def reap(now: float | None = None) -> int:
    """Roll back and close the streams idle longer than allowed; return how many."""
    limit = settings.SQLAPI_STREAM_IDLE_SECONDS
    now = time.monotonic() if now is None else now
    with _lock:
        expired = [
            stream
            for stream in _held.values()
            if now - stream.idle_since > limit and stream.lock.acquire(blocking=False)
        ]
        for stream in expired:
            del _held[stream.stream_id]
    for stream in expired:
        stream.lock.release()
        close(stream)
    return len(expired)


def _pool(stream: Stream) -> None:
    session = stream.session
    if session.connection.in_transaction or session.stored_sql:
        _close(stream)
        return
    key = (stream.slug, stream.read_only)
    with _lock:
        pooled = _idle.setdefault(key, [])
        _idle.move_to_end(key)
        kept = len(pooled) < MAX_IDLE_PER_KEY
        if kept:
            pooled.append(stream)
        surplus = _surplus()
    for extra in surplus if kept else [stream, *surplus]:
        _close(extra)


def _surplus() -> list[Stream]:
    """Take out the least recently used idle streams beyond MAX_IDLE (under _lock)."""
    surplus: list[Stream] = []
    total = sum(len(pooled) for pooled in _idle.values())
    while total > MAX_IDLE and _idle:
        key, pooled = next(iter(_idle.items()))
        surplus.extend(pooled)
        total -= len(pooled)
        del _idle[key]
    return surplus


def _close(stream: Stream) -> None:
    try:
        stream.session.connection.close()
    except sqlite3.Error:
        logger.warning("Could not close an SQL API connection to %s", stream.slug)


def drop_pool(slug: str | None = None) -> None:
    """Close the idle pooled connections (of one workspace, or all)."""
    with _lock:
        keys = [key for key in _idle if slug is None or key[0] == slug]
        dropped = [stream for key in keys for stream in _idle.pop(key)]
    for stream in dropped:
        _close(stream)


def _start_reaper() -> None:
    with _lock:
        thread = _reaper["thread"]
        if thread is not None and thread.is_alive():
            return
        thread = threading.Thread(target=_reap_forever, name="sqlapi-streams", daemon=True)
        _reaper["thread"] = thread
    thread.start()


def _reap_forever() -> None:
    while True:
        time.sleep(min(1.0, settings.SQLAPI_STREAM_IDLE_SECONDS / 4))
        try:
            reap()
        except Exception:  # keep reaping: a stream's lock held for ever would be worse
            logger.exception("Reaping idle SQL API streams failed")
