"""Tenant database files and the connections Django opens on them.

Nothing per tenant is written in settings. A tenant's connection object is created in
the thread that first needs it and lives only there (Django keeps connections per
thread), so ``connections.settings`` never grows with the number of tenants.

Open connections are kept for reuse under a cap for the whole process
(``TENANT_MAX_OPEN_CONNECTIONS``): one worker can serve thousands of tenants with bounded
memory and file descriptors. At the cap, connections that served one request go first,
least recently used first, then those that served more (a segmented LRU).
"""

from __future__ import annotations

import functools
import os
import queue
import shutil
import sqlite3
import threading
import time
import weakref
from collections import OrderedDict
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from contextvars import ContextVar, Token
from pathlib import Path
from typing import Any, cast
from urllib.parse import quote

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.sqlite3.base import DatabaseWrapper, SQLiteCursorWrapper
from django.utils.connection import ConnectionDoesNotExist

from apps.tenancy.exceptions import (
    TenantDatabaseDamaged,
    TenantDatabaseExists,
    TenantDatabaseMissing,
)
from apps.tenancy.nodes import replicapool

ALIAS_PREFIX = "tenant:"
COMPANION_SUFFIXES = ("-wal", "-shm")
# Django turns foreign keys on itself. SQLite's page cache is 2 MB a connection by default;
# a page served from the page cache reads a few pages, a render at most a few dozen (read
# again from the OS's cache if evicted): 128 KiB keeps hundreds of idle connections small.
PRAGMAS = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA cache_size=-128"
REPLICA_PRAGMAS = "PRAGMA query_only=ON; PRAGMA foreign_keys=ON"
REPLICA_SUFFIX = "@replica"
KEPT_SHARE = 0.8  # of the connection cap, at most, for connections that served again

_thread = threading.local()
_open_count = 0
_open_count_lock = threading.Lock()
_closer_lock = threading.Lock()
_closing: dict[str, Any] = {}  # this process's closer thread's queue
_query_time_limit: ContextVar[float | None] = ContextVar("quire_query_time_limit", default=None)
_replica_reads: ContextVar[str | None] = ContextVar("quire_replica_reads", default=None)
PROGRESS_STEPS = 1000  # SQLite VM steps between two looks at the clock
POSITION_TABLE = "quire_commit_position"
POSITION_SQL = "SELECT epoch, position FROM quire_commit_position WHERE id = 1"
ADVANCE_SQL = (
    "UPDATE quire_commit_position SET position = position + 1 WHERE id = 1 "
    "RETURNING epoch, position"
)
# A file migrated before restore epochs existed (until migrate_tenants reaches it).
ADVANCE_SQL_NO_EPOCH = (
    "UPDATE quire_commit_position SET position = position + 1 WHERE id = 1 RETURNING 0, position"
)
SCHEMA_SQL = (
    "SELECT name FROM sqlite_master WHERE type = 'table' "
    "AND name IN ('django_migrations', 'quire_commit_position')"
)


class query_time_limit:
    """Interrupt any tenant query that runs longer than this, inside the block.

    A class rather than a generator: every request enters one.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._tokens: list[Token[float | None]] = []

    def __enter__(self) -> None:
        self._tokens.append(_query_time_limit.set(self.seconds))

    def __exit__(self, *exc_info: object) -> None:
        _query_time_limit.reset(self._tokens.pop())


class TenantDatabaseWrapper(DatabaseWrapper):
    """Django's SQLite wrapper for a tenant file.

    It remembers which file (inode) it opened, caps the file's size with
    ``PRAGMA max_page_count``, interrupts a query that outlives the time limit set by
    ``query_time_limit`` (SQLite raises "interrupted" and rolls the statement back), and
    advances the file's commit position with every committed write. A served tenant's
    file that is empty or has no migration ledger is refused as damaged.
    """

    def __init__(
        self,
        settings_dict: dict[str, Any],
        alias: str,
        *,
        path: Path,
        max_bytes: int | None,
        served: bool = True,
        read_only: bool = False,
    ) -> None:
        super().__init__(settings_dict, alias)
        self.tenant_path = path
        self.max_bytes = max_bytes
        self.served = served
        self.read_only = read_only
        self.opened_inode: int | None = None
        self.query_deadline: float | None = None
        self.changes_at_begin: int | None = None
        self.advance_sql: str | None = None  # None: the file keeps no position (yet)
        self.advanced_to: tuple[int, int] | None = None  # in the open transaction
        self.read_position: tuple[Any, tuple[int, int] | None] | None = None  # read-only
        self.unsent_commit: tuple[int, int] | None = None  # committed, not yet told
        self.changes_counted = 0  # total_changes when the position last accounted for them
        self.open_cursors: weakref.WeakSet[_TrackedCursor] = weakref.WeakSet()
        self.requests_served = 0  # finish_request: the cap keeps a connection serving again
        # Usage metering (apps.tenancy.metering): rows since the last take_rows().
        self.rows_read = 0
        self.changes_taken = 0  # sqlite3_total_changes when rows written were last taken
        self.position_changes = 0  # of those, the commit position's own row
        self.metered = bool(settings.QUIRE_USAGE_METERING)
        self.execute_wrappers.append(self._around_query)

    def get_new_connection(self, conn_params: dict[str, Any]) -> Any:
        if self.read_only and (kept := replicapool.take(self.tenant_path)) is not None:
            return self._resume(kept)
        # Taken before opening: a file swapped in meanwhile differs, and refresh() sees it.
        self.opened_inode = _inode(self.tenant_path, refuse_empty=self.served)
        connection = super().get_new_connection(conn_params)
        try:
            self.changes_taken, self.position_changes = connection.total_changes, 0
            self.changes_counted = connection.total_changes
            if not self.read_only:  # a replica is never written: no cap to keep
                self._apply_cap(connection)
            connection.set_progress_handler(self._past_deadline, PROGRESS_STEPS)
            self.advance_sql = self._read_schema(connection)
        except BaseException:
            connection.close()
            raise
        return connection

    def _resume(self, kept: replicapool.Kept) -> sqlite3.Connection:
        """Take over a replica connection kept since an earlier request (``replicapool``)."""
        self.opened_inode, self.advance_sql = kept.inode, kept.advance_sql
        self.changes_taken = self.changes_counted = kept.raw.total_changes
        self.position_changes = 0
        kept.raw.set_progress_handler(self._past_deadline, PROGRESS_STEPS)
        return kept.raw

    def park(self, link: Path) -> None:
        """Hand this replica connection to ``replicapool`` for a later read, if it may be kept."""
        raw = self.connection
        busy = any(not cursor.finished for cursor in self.open_cursors)
        if raw is None or busy or self.in_atomic_block:
            return
        kept = replicapool.keep(
            raw,
            path=self.tenant_path,
            link=link,
            inode=self.opened_inode,
            advance_sql=self.advance_sql,
        )
        if kept:
            raw.set_progress_handler(None, 0)
            self.connection = None

    def init_connection_state(self) -> None:
        super().init_connection_state()
        if self.read_only:
            # One read transaction for the connection's life (one request): the page sees
            # one state, and the follower applying changes waits until it ends. (Begun
            # here, after Django set autocommit, which would have committed it.)
            self.connection.execute("BEGIN")

    def replica_position(self) -> tuple[int, int] | None:
        """Return (epoch, position) of the state this read-only connection's request sees.

        Read once in the connection's read transaction (a request's whole life), so it is
        exactly the state every other read of the request sees; None if it keeps none.
        """
        if not self.read_only:
            return None
        with self.wrap_database_errors:
            self.ensure_connection()
            raw = self.connection
            if not raw.in_transaction or self.advance_sql is None:  # no position kept
                return None
            if self.read_position is None or self.read_position[0] is not raw:
                row = raw.execute(POSITION_SQL).fetchone()
                self.read_position = (raw, (int(row[0]), int(row[1])) if row else None)
        return self.read_position[1]

    def create_cursor(self, name: str | None = None) -> Any:
        if self.metered:
            cursor = self.connection.cursor(factory=_MeteredCursor)
            cursor.meter = self
        else:
            cursor = self.connection.cursor(factory=_TrackedCursor)
        self.open_cursors.add(cursor)
        return cursor

    def shrink_memory(self) -> None:
        """Free SQLite's cached pages of this connection while it is idle (kept: the schema)."""
        raw = self.connection
        if raw is not None and not self.in_atomic_block and not raw.in_transaction:
            with suppress(sqlite3.Error):  # memory only: a broken file answers elsewhere
                raw.execute("PRAGMA shrink_memory")

    def is_busy(self) -> bool:
        """Return True while closing would lose work: a transaction or unread rows."""
        raw = self.connection
        if self.in_atomic_block or (raw is not None and raw.in_transaction):
            return True
        return any(not cursor.finished for cursor in self.open_cursors)

    def set_max_bytes(self, max_bytes: int | None) -> None:
        """Change the storage cap, at once if the connection is open (a plan changed)."""
        self.max_bytes = max_bytes
        if self.connection is not None and not self.read_only:
            self._apply_cap(self.connection)

    def _apply_cap(self, connection: sqlite3.Connection) -> None:
        if self.max_bytes:
            page_size = connection.execute("PRAGMA page_size").fetchone()[0]
            connection.execute(f"PRAGMA max_page_count = {max(1, self.max_bytes // page_size)}")

    def _read_schema(self, connection: sqlite3.Connection) -> str | None:
        """Return how to advance the file's commit position; refuse a served file with no ledger."""
        names = {row[0] for row in connection.execute(SCHEMA_SQL)}
        if self.served and "django_migrations" not in names:
            raise TenantDatabaseDamaged(f"{self.tenant_path} has no migration ledger.")
        if POSITION_TABLE not in names:
            return None
        columns = {row[1] for row in connection.execute(f"PRAGMA table_info({POSITION_TABLE})")}
        return ADVANCE_SQL if "epoch" in columns else ADVANCE_SQL_NO_EPOCH

    # The commit position ---------------------------------------------------------------

    def _start_transaction_under_autocommit(self) -> None:
        self.count_autocommit_writes()
        super()._start_transaction_under_autocommit()  # type: ignore[misc]
        self.changes_at_begin = self.connection.total_changes

    def _commit(self) -> None:
        began, self.changes_at_begin = self.changes_at_begin, None
        if began is not None and self.connection.total_changes != began:
            self._advance_position()
        super()._commit()  # type: ignore[misc]
        self._committed()
        if self.connection is not None:
            self.changes_counted = self.connection.total_changes

    def count_autocommit_writes(self) -> None:
        """Advance the position for writes committed outside a transaction, not yet counted.

        SQLite adds a statement's changes when it finishes: an ``INSERT ... RETURNING``
        finishes once its rows are fetched, after its ``execute`` returned, so its write
        is counted here, before the next statement, transaction or end of the request.
        """
        raw = self.connection
        if raw is None or self.read_only or self.in_atomic_block or raw.in_transaction:
            return
        if raw.total_changes != self.changes_counted:
            self._advance_position()
            self._committed()
            self.changes_counted = raw.total_changes

    def _rollback(self) -> None:
        self.changes_at_begin = self.advanced_to = None
        super()._rollback()  # type: ignore[misc]
        if self.connection is not None:
            self.changes_counted = self.connection.total_changes  # undone: nothing to count

    def take_rows(self) -> tuple[int, int]:
        """Return the rows read and written since last asked (the position's row left out).

        Rows written are SQLite's own count of rows inserted, updated or deleted on this
        connection (``total_changes``, triggers included). SQLite adds a statement's
        changes when it finishes, which for ``INSERT ... RETURNING`` is after its rows
        are fetched, so the count is taken here rather than around each statement.
        """
        read, self.rows_read = self.rows_read, 0
        if self.connection is None:
            return read, 0
        total = self.connection.total_changes
        written = total - self.changes_taken - self.position_changes
        self.changes_taken, self.position_changes = total, 0
        return read, max(0, written)

    def take_commit(self) -> tuple[int, int] | None:
        """Return (epoch, position) of the last commit not yet told to anyone, and forget it."""
        commit, self.unsent_commit = self.unsent_commit, None
        return commit

    def _advance_position(self) -> None:
        """Count one more committed write transaction, inside it (or right after, autocommit)."""
        if self.advance_sql != ADVANCE_SQL:  # a file migrated since it was opened
            self.advance_sql = self._read_schema(self.connection)
        if self.advance_sql is not None:
            with self.wrap_database_errors:
                cursor = self.connection.execute(self.advance_sql)
                row = cursor.fetchone()
                cursor.close()
            self.advanced_to = (int(row[0]), int(row[1]))
            self.position_changes += 1

    def _committed(self) -> None:
        if self.advanced_to is not None:
            self.unsent_commit, self.advanced_to = self.advanced_to, None

    def _around_query(
        self, execute: Callable[..., Any], sql: str, params: Any, many: bool, context: Any
    ) -> Any:
        limit = _query_time_limit.get()
        # The deadline stays while rows are fetched; the next query sets its own.
        self.query_deadline = time.monotonic() + limit if limit else None
        self.count_autocommit_writes()
        result = execute(sql, params, many, context)
        self.count_autocommit_writes()
        return result

    def _past_deadline(self) -> int:
        deadline = self.query_deadline
        return int(deadline is not None and time.monotonic() > deadline)


class _TrackedCursor(SQLiteCursorWrapper):
    """Django's SQLite cursor, which says when it was closed."""

    finished = False

    def close(self) -> None:
        self.finished = True
        super().close()


class _MeteredCursor(_TrackedCursor):
    """A tracked cursor that counts the rows it steps out of SQLite (rows read)."""

    meter: TenantDatabaseWrapper

    def fetchone(self) -> Any:
        row = super().fetchone()
        if row is not None:
            self.meter.rows_read += 1
        return row

    def fetchmany(self, size: int | None = None) -> list[Any]:
        rows = super().fetchmany(self.arraysize if size is None else size)
        self.meter.rows_read += len(rows)
        return rows

    def fetchall(self) -> list[Any]:
        rows = super().fetchall()
        self.meter.rows_read += len(rows)
        return rows

    def __next__(self) -> Any:
        row = super().__next__()
        self.meter.rows_read += 1
        return row


def _inode(path: Path, *, refuse_empty: bool) -> int | None:
    """Return the file's inode; refuse a served file of 0 bytes (SQLite: a new database)."""
    try:
        found = os.stat(path)
    except FileNotFoundError:
        return None  # SQLite says so itself (mode=rw never creates the file)
    if refuse_empty and found.st_size == 0:
        raise TenantDatabaseDamaged(f"{path} is empty (0 bytes).")
    return found.st_ino


class _ThreadAliases(OrderedDict[str, "TenantDatabaseWrapper"]):
    """One thread's tenant aliases, least recently used first, with their wrappers.

    The wrapper is the one ``connections[alias]`` holds in this thread: a request's
    bookkeeping takes it from here (``connections`` is an asgiref ``Local``, whose every
    lookup costs a microsecond or two).

    ``kept`` holds those that served a request again after the one that opened them,
    least recently served first: the cap closes the others first (a segmented LRU), so
    a workspace read once does not push out one read all day. When the thread ends,
    its connection objects go with it; the process count follows here.
    """

    def __init__(self) -> None:
        super().__init__()
        self.kept: OrderedDict[str, None] = OrderedDict()

    def __delitem__(self, alias: str) -> None:
        super().__delitem__(alias)
        self.kept.pop(alias, None)

    def served(self, alias: str, wrapper: TenantDatabaseWrapper) -> None:
        """Count a request served on this alias; keep it once it served a second one.

        After the request that opened it, the connection gives back its page cache
        (``shrink_memory``): most workspaces read once are not read again before the
        cap closes them, and their cached pages would hold a third of the
        connection's memory until then. One read again reads its pages from the OS's
        cache once more, then keeps them.
        """
        wrapper.requests_served += 1
        if wrapper.requests_served < 2:
            wrapper.shrink_memory()
            return
        self.kept[alias] = None
        self.kept.move_to_end(alias)
        if len(self.kept) > settings.TENANT_MAX_OPEN_CONNECTIONS * KEPT_SHARE:
            self.kept.popitem(last=False)  # back among the others, by its last use

    def eviction_order(self) -> Iterator[str]:
        """Yield the aliases to close first: the others, then the kept, each LRU first."""
        kept = self.kept
        yield from [alias for alias in self if alias not in kept]
        yield from list(kept)

    def __del__(self) -> None:
        _count(-len(self))


def data_dir() -> Path:
    """Return the folder that holds every tenant database."""
    return Path(settings.TENANTS_DATA_DIR)


def database_path(slug: str) -> Path:
    """Return the path of this tenant's database file."""
    return data_dir() / f"{slug}.sqlite3"


def companions(path: Path) -> list[Path]:
    """Return a database file's WAL and shared-memory companions."""
    return [path.with_name(path.name + suffix) for suffix in COMPANION_SUFFIXES]


def database_files(slug: str) -> list[Path]:
    """Return the tenant's database file followed by its companions."""
    path = database_path(slug)
    return [path, *companions(path)]


def replication_state_dir(slug: str) -> Path:
    """Return the folder where Litestream keeps its local state for a tenant's file."""
    return data_dir() / f".{slug}.sqlite3-litestream"


def sqlite_uri(path: Path, mode: str = "rw") -> str:
    """Return a SQLite URI that opens this file without ever creating it."""
    return f"file:{quote(str(path))}?mode={mode}"


def connect(path: Path, mode: str = "rw") -> sqlite3.Connection:
    """Open a plain sqlite3 connection on an existing file (for engine work, not the ORM)."""
    connection = sqlite3.connect(
        sqlite_uri(path, mode), uri=True, timeout=settings.TENANT_DB_TIMEOUT, isolation_level=None
    )
    connection.execute("PRAGMA foreign_keys=ON")
    return connection


def require_database_file(slug: str) -> Path:
    """Return the tenant's database path; raise TenantDatabaseMissing if it is gone."""
    path = database_path(slug)
    if not path.is_file():
        raise TenantDatabaseMissing(f"The database file of '{slug}' is missing: {path}")
    return path


def create_database_file(slug: str) -> Path:
    """Create an empty tenant database in WAL mode; refuse to reuse an existing file."""
    path = database_path(slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640))
    except FileExistsError:
        raise _exists(slug, path) from None
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return path


def copy_database(source: Path, target: Path) -> None:
    """Copy a live database into a new file, consistently, and move it into place.

    The SQLite backup API takes a consistent snapshot even while the source takes
    writes. The copy is written to a temporary file in the target's folder and then
    linked into place, so a reader never sees a half-copied file and an existing
    target is never overwritten.
    """
    target.parent.mkdir(parents=True, exist_ok=True)
    temporary = scratch_path(target)
    try:
        snapshot(source, temporary)
        place(temporary, target)
    finally:
        for path in (temporary, *companions(temporary)):
            path.unlink(missing_ok=True)


def scratch_path(target: Path) -> Path:
    """Return a temporary name beside a target, unique to this process and thread."""
    return target.with_name(f".{target.name}.{os.getpid()}.{threading.get_ident()}.tmp")


def abandoned_scratch_files(folder: Path, prefix: str = "") -> list[Path]:
    """Return the scratch files in a folder whose process is gone (a killed copy or restore).

    Scratch names are ``.<name>.<pid>.<thread>.<suffix>``; ``prefix`` narrows them to one
    target's (``.acme.sqlite3.``).
    """
    found = []
    for path in folder.glob(f"{prefix or '.'}*"):
        parts = path.name.split(".")
        pid = parts[-3] if len(parts) >= 5 else ""
        if path.is_file() and pid.isdigit() and not process_alive(int(pid)):
            found.append(path)
    return found


def process_alive(pid: int) -> bool:
    """Return True if a process with this id runs on this machine."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def place(ready: Path, target: Path) -> None:
    """Move a complete database file to its final name, never overwriting one."""
    try:
        os.link(ready, target)
    except FileExistsError:
        raise TenantDatabaseExists(f"{target} already exists; it was left untouched.") from None
    ready.unlink()


def move_database(source: Path, target: Path) -> None:
    """Move a database file and its companions to another name; never overwrite one.

    The WAL is first folded into the file and truncated (when no reader holds it), so
    the main file alone carries the committed writes; a kill between the renames leaves
    at worst an empty WAL behind. Callers journal the move (``apps.tenancy.fleet.journal``) so
    that a killed one is completed: ``move_leftovers`` is that completion.
    """
    if any(path.exists() for path in (target, *companions(target))):
        raise TenantDatabaseExists(f"{target} already exists; it was left untouched.")
    checkpoint(source)
    source.rename(target)
    move_leftovers(source, target)


def move_leftovers(source: Path, target: Path) -> None:
    """Move whatever of a database is still under its old name to the new one."""
    for old, new in zip([source, *companions(source)], [target, *companions(target)], strict=True):
        if old.exists() and not new.exists():
            with suppress(FileNotFoundError):  # moved by another hand meanwhile
                old.rename(new)


def checkpoint(path: Path) -> None:
    """Fold the WAL into the database file and truncate it, as far as readers allow."""
    try:
        connection = connect(path)
        try:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            connection.close()
    except sqlite3.DatabaseError:  # a damaged file still moves, as it is
        return


def snapshot(source: Path, destination: Path, source_mode: str = "rw") -> None:
    """Write a consistent copy of a database to a new file, in WAL mode, synced to disk."""
    reader = connect(source, source_mode)
    writer = sqlite3.connect(destination)
    try:
        reader.backup(writer)
        writer.execute("PRAGMA journal_mode=WAL")
    finally:
        writer.close()
        reader.close()
    with open(destination, "rb") as written:
        os.fsync(written.fileno())


def integrity_errors(path: Path) -> list[str]:
    """Return what ``PRAGMA integrity_check`` reports as wrong with a file (empty if fine)."""
    try:
        connection = connect(path)
        try:
            rows = [row[0] for row in connection.execute("PRAGMA integrity_check")]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        return [str(exc)]
    return [] if rows == ["ok"] else rows


def delete_database_files(slug: str) -> None:
    """Delete the tenant's database file, its companions and replication state, if present."""
    release(slug)
    for path in database_files(slug):
        path.unlink(missing_ok=True)
    shutil.rmtree(replication_state_dir(slug), ignore_errors=True)


def _exists(slug: str, path: Path) -> TenantDatabaseExists:
    return TenantDatabaseExists(
        f"A database file for '{slug}' already exists at {path}; "
        "move it away or restore it before creating this tenant."
    )


# Connections ------------------------------------------------------------------------


def is_tenant_alias(alias: str | None) -> bool:
    """Return True if this connection alias belongs to a tenant."""
    return bool(alias) and str(alias).startswith(ALIAS_PREFIX)


def tenant_alias(slug: str, *, max_bytes: int | None = None) -> str:
    """Return the alias of this tenant's connection, creating it in this thread if needed.

    ``max_bytes`` is the tenant's storage cap (default: TENANT_MAX_DB_BYTES). Inside
    ``replica_reads(slug)`` it is the read-only connection to this node's replica.
    """
    if _replica_reads.get() == slug:
        generation = lambda: replicapool.published(replica_path(slug))  # noqa: E731
        return open_alias(replica_alias(slug), generation, read_only=True)
    return open_alias(ALIAS_PREFIX + slug, lambda: database_path(slug), max_bytes=max_bytes)


def replica_path(slug: str) -> Path:
    """Return where this node keeps its read replica of a tenant's database."""
    return _replica_path(str(settings.TENANTS_DATA_DIR), slug)


@functools.lru_cache(maxsize=1024)
def _replica_path(folder: str, slug: str) -> Path:
    # Asked several times by every replica read: built once (a Path is immutable).
    return Path(folder) / ".replicas" / f"{slug}.sqlite3"


def replica_alias(slug: str) -> str:
    """Return the alias of the read-only connection to this node's replica of a tenant."""
    return ALIAS_PREFIX + slug + REPLICA_SUFFIX


@contextmanager
def replica_reads(slug: str) -> Iterator[None]:
    """Read this tenant from the local replica inside the block.

    ``finish_request`` ends the replica connection's read transaction, so that the
    follower can apply changes between reads, and keeps it for a later read
    (``park_replica``).
    """
    token = _replica_reads.set(slug)
    try:
        yield
    finally:
        _replica_reads.reset(token)


def reading_replica() -> bool:
    """Return True inside ``replica_reads``: nothing may be written."""
    return _replica_reads.get() is not None


def open_alias(
    alias: str,
    path: Path | Callable[[], Path],
    *,
    max_bytes: int | None = None,
    served: bool = True,
    read_only: bool = False,
) -> str:
    """Create (or reuse) this thread's connection object for a tenant alias.

    The router asks for every query, so reuse is the fast path: ``path`` may be a
    function, called only when a connection object has to be made.
    """
    opened = _opened_aliases()
    cap = max_bytes or settings.TENANT_MAX_DB_BYTES
    if alias in opened:
        opened.move_to_end(alias)
        wrapper = opened[alias]
        if wrapper.max_bytes != cap:
            wrapper.set_max_bytes(cap)
        return alias
    if callable(path):
        path = path()
    _make_room(opened)
    settings_dict = connection_settings(path, read_only=read_only)
    wrapper = TenantDatabaseWrapper(
        settings_dict, alias, path=path, max_bytes=cap, served=served, read_only=read_only
    )
    connections[alias] = wrapper
    opened[alias] = wrapper
    _count(+1)
    return alias


def connection_settings(path: Path, *, read_only: bool = False) -> dict[str, Any]:
    """Return a complete DATABASES entry for a tenant file.

    The file is opened read-write but never created (``mode=rw``): only provisioning
    creates tenant files, so no request can conjure a database from a typo. A replica
    is opened read-only (``mode=ro``, ``query_only``): no request ever writes it.
    """
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": sqlite_uri(path, "ro" if read_only else "rw"),
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": None,
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": settings.TENANT_DB_TIMEOUT,
            "init_command": REPLICA_PRAGMAS if read_only else PRAGMAS,
        },
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {"CHARSET": None, "COLLATION": None, "MIGRATE": True, "MIRROR": None, "NAME": None},
    }


def open_connection_count() -> int:
    """Return how many tenant connection objects this process holds, all threads together."""
    return _open_count


def release(slug: str) -> None:
    """Close this thread's connection to a tenant, if it has one."""
    release_alias(ALIAS_PREFIX + slug)


def release_all() -> None:
    """Close every tenant connection of this thread."""
    for alias in list(_opened_aliases()):
        release_alias(alias)


def release_alias(alias: str) -> None:
    """Close this thread's connection on a tenant alias and forget it."""
    opened = _opened_aliases()
    if alias in opened:
        del opened[alias]
        _count(-1)
        connections[alias].close()
        del connections[alias]


def bind(slug: str, *, max_bytes: int | None = None) -> str:
    """Return the tenant's alias, its connection checked to be on the file at its path."""
    refresh(slug)
    return tenant_alias(slug, max_bytes=max_bytes)


def refresh(slug: str) -> None:
    """Drop this thread's connection to a tenant if its file was replaced or moved.

    Restores, renames and deletions swap files under running workers; a connection
    kept open on the old file would otherwise read and write the wrong one. An open
    connection holds its file's inode, so no new file can take that inode number while
    it is open: the comparison is exact. A connection inside a transaction is kept
    (it was checked when the transaction began).
    """
    alias = ALIAS_PREFIX + slug
    if alias not in _opened_aliases():
        return
    try:
        wrapper = connections[alias]
    except ConnectionDoesNotExist:  # an event loop's context: its connections live elsewhere
        return
    if wrapper.connection is None or wrapper.in_atomic_block:
        return
    try:
        current: int | None = os.stat(database_path(slug)).st_ino
    except FileNotFoundError:
        current = None
    if current != getattr(wrapper, "opened_inode", None):
        release_alias(alias)


def finish_request(slug: str) -> tuple[int, int] | None:
    """Keep the tenant's connection for the next request unless it is unusable.

    Return (epoch, position) of the last write the request committed, if it wrote. A
    replica's connection is parked (``park_replica``).
    """
    opened = _opened_aliases()
    park_replica(slug, opened)
    alias = ALIAS_PREFIX + slug
    wrapper = opened.get(alias)
    if wrapper is None:
        return None
    wrapper.count_autocommit_writes()
    wrapper.close_if_unusable_or_obsolete()
    opened.served(alias, wrapper)
    return wrapper.take_commit()


def park_replica(slug: str, opened: _ThreadAliases | None = None) -> None:
    """End this thread's read of a tenant's replica; keep its connection if it may be kept."""
    alias = replica_alias(slug)
    wrapper = (opened if opened is not None else _opened_aliases()).get(alias)
    if wrapper is not None:
        wrapper.park(replica_path(slug))
        release_alias(alias)


def take_rows(slug: str) -> tuple[int, int]:
    """Return the rows this thread's connections to a tenant read and wrote since last asked."""
    read = written = 0
    opened = _opened_aliases()
    for alias in (ALIAS_PREFIX + slug, replica_alias(slug)):
        wrapper = opened.get(alias)
        if wrapper is not None:
            rows = wrapper.take_rows()
            read, written = read + rows[0], written + rows[1]
    return read, written


def forget_commit(slug: str) -> None:
    """Forget a commit this thread made before the request that starts now."""
    wrapper = _opened_aliases().get(ALIAS_PREFIX + slug)
    if wrapper is not None:
        wrapper.take_commit()


def _opened_aliases() -> _ThreadAliases:
    """Return this thread's tenant aliases, least recently used first."""
    if not hasattr(_thread, "aliases"):
        _thread.aliases = _ThreadAliases()
    return _thread.aliases


def _make_room(opened: _ThreadAliases) -> None:
    """Close this thread's idle connections while at the process cap, in eviction order.

    A connection in a transaction or with unread rows is never closed. Only a
    thread may close its own connections, so a thread with none idle may open one
    beyond the cap: the process holds at most cap + threads - 1 idle ones.
    """
    idle = (alias for alias in opened.eviction_order() if not _is_busy(connections[alias]))
    while _open_count >= settings.TENANT_MAX_OPEN_CONNECTIONS:
        alias = next(idle, None)
        if alias is None:
            return
        _evict(alias)


def _evict(alias: str) -> None:
    """Forget an idle connection now and close its file in the closer thread.

    Closing the last connection to a WAL file checkpoints it and removes its -wal and
    -shm files: work the request that needed room should not wait for.
    """
    opened = _opened_aliases()
    del opened[alias]
    _count(-1)
    wrapper = connections[alias]
    raw, wrapper.connection = wrapper.connection, None
    del connections[alias]
    if raw is not None:
        _closer().put(raw)


def _closer() -> queue.Queue[sqlite3.Connection]:
    """Return this process's queue of connections to close, starting its thread once."""
    with _closer_lock:
        if _closing.get("pid") != os.getpid():
            pending: queue.Queue[sqlite3.Connection] = queue.Queue()
            threading.Thread(
                target=_close_each, args=(pending,), name="quire-closer", daemon=True
            ).start()
            _closing.update(pid=os.getpid(), queue=pending)
        return cast("queue.Queue[sqlite3.Connection]", _closing["queue"])


def _close_each(pending: queue.Queue[sqlite3.Connection]) -> None:
    while True:
        raw = pending.get()
        try:
            with suppress(sqlite3.Error):
                raw.close()
        finally:
            pending.task_done()


def closed_evicted() -> None:
    """Wait until every connection evicted so far in this process is closed (tests)."""
    _closer().join()


def _is_busy(wrapper: BaseDatabaseWrapper) -> bool:
    return isinstance(wrapper, TenantDatabaseWrapper) and wrapper.is_busy()


def _count(delta: int) -> None:
    global _open_count
    with _open_count_lock:
        _open_count += delta
