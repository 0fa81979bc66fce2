"""Whether a tenant's database file is there and sound, in SQLite's own words.

Fleet commands go on past a tenant whose file is missing or damaged and name it at the
end; this module says what is wrong with one file. A failure is classified by SQLite's
error code (``sqlite3.Error.sqlite_errorcode``), never by the text of its message.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import Any

from apps.tenancy.exceptions import TenantDatabaseMissing
from apps.tenancy.models import Tenant
from apps.tenancy.routing.databases import connect, database_path
from apps.tenancy.routing.errors import PRIMARY_CODE_MASK, cause_chain

OK = "ok"
DAMAGED = "damaged"  # SQLite reads the file and finds it malformed, or it is no database
MISSING = "missing"  # the catalog lists the tenant but its file is not on disk
UNREADABLE = "unreadable"  # the file is there but cannot be opened or read (I/O, access)
FAILED = "failed"  # another SQLite error (busy, interrupted...): the file may be fine

DAMAGE_CODES = {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB}
UNREADABLE_CODES = {
    sqlite3.SQLITE_CANTOPEN,
    sqlite3.SQLITE_IOERR,
    sqlite3.SQLITE_PERM,
    sqlite3.SQLITE_AUTH,
}


@dataclass(frozen=True)
class Health:
    """What is known about one tenant's database file."""

    slug: str
    status: str  # OK, DAMAGED, MISSING, UNREADABLE or FAILED
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status == OK

    @property
    def is_damage(self) -> bool:
        """Return True when the file itself needs an operator (restore, re-create)."""
        return self.status in (DAMAGED, MISSING, UNREADABLE)

    def __str__(self) -> str:
        return f"{self.status}: {self.reason}" if self.reason else self.status

    def as_dict(self) -> dict[str, Any]:
        return {"slug": self.slug, "health": self.status, "error": self.reason}


def tenant_health(*, tenant: Tenant, full: bool = False) -> Health:
    """Check a tenant's file with ``PRAGMA quick_check`` (``integrity_check`` if full).

    The file is opened read-only, so checking never changes it, even when it is damaged.
    """
    pragma = "integrity_check" if full else "quick_check"
    return _probe(tenant.slug, f"PRAGMA {pragma}")


def tenant_opens(*, tenant: Tenant) -> Health:
    """Check that a tenant's file opens and its schema reads (a few pages, no full scan)."""
    return _probe(tenant.slug, None)


def file_health(*, slug: str) -> Health:
    """Say from the file system alone whether a tenant's file is missing or empty."""
    path = database_path(slug)
    if not path.is_file():
        return Health(slug, MISSING, f"file not found: {path}")
    if path.stat().st_size == 0:
        return Health(slug, DAMAGED, f"the file is empty (0 bytes): {path}")
    return Health(slug, OK)


def health_from_error(*, slug: str, error: BaseException) -> Health:
    """Describe a tenant's failure by the SQLite error behind it (FAILED if none is).

    Django's ``DatabaseError`` and our own ``MigrationFailed`` carry SQLite's error as
    their cause, so the chain of causes is followed.
    """
    for link in cause_chain(error):
        if isinstance(link, TenantDatabaseMissing):
            found = file_health(slug=slug)
            return found if not found.ok else Health(slug, FAILED, str(error))
        if isinstance(link, sqlite3.Error) and link.sqlite_errorcode is not None:
            return _classify(slug, link)
    return Health(slug, FAILED, str(error))


def _probe(slug: str, pragma: str | None) -> Health:
    found = file_health(slug=slug)
    if not found.ok:
        return found
    try:
        connection = connect(database_path(slug), mode="ro")
        try:
            problems = _problems(connection, pragma)
        finally:
            connection.close()
    except sqlite3.Error as exc:
        return _classify(slug, exc)
    if problems:
        return Health(slug, DAMAGED, "; ".join(problems[:3]) + _more(len(problems) - 3))
    return Health(slug, OK)


def _problems(connection: sqlite3.Connection, pragma: str | None) -> list[str]:
    if not connection.execute("SELECT count(*) FROM sqlite_master").fetchone()[0]:
        return ["the database has no tables"]
    if pragma is None:
        return []
    rows = [row[0] for row in connection.execute(pragma)]
    return [] if rows == ["ok"] else rows


def _classify(slug: str, error: sqlite3.Error) -> Health:
    code = (error.sqlite_errorcode or 0) & PRIMARY_CODE_MASK
    reason = f"{error} ({error.sqlite_errorname})"
    if code in DAMAGE_CODES:
        return Health(slug, DAMAGED, reason)
    if code == sqlite3.SQLITE_CANTOPEN and not database_path(slug).is_file():
        return Health(slug, MISSING, f"file not found: {database_path(slug)}")
    if code in UNREADABLE_CODES:
        return Health(slug, UNREADABLE, reason)
    return Health(slug, FAILED, reason)


def _more(count: int) -> str:
    return f" (and {count} more)" if count > 0 else ""
