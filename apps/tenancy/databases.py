"""Tenant database files and the connections Django opens on them.

Nothing per tenant is written in settings. A tenant's connection object is created in
the thread that first needs it and lives only there (Django keeps connections per
thread), so ``connections.settings`` never grows with the number of tenants.
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.db import connections
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.sqlite3.base import DatabaseWrapper

from apps.tenancy.context import require_current_tenant
from apps.tenancy.exceptions import TenantDatabaseExists, TenantDatabaseMissing

ALIAS_PREFIX = "tenant:"
COMPANION_SUFFIXES = ("-wal", "-shm")
PRAGMAS = "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL; PRAGMA foreign_keys=ON"

_thread = threading.local()


def data_dir() -> Path:
    """Return the folder that holds every tenant database."""
    return Path(settings.TENANTS_DATA_DIR)


def database_path(slug: str) -> Path:
    """Return the path of this tenant's database file."""
    return data_dir() / f"{slug}.sqlite3"


def database_files(slug: str) -> list[Path]:
    """Return the database file and its WAL and shared-memory companions."""
    path = database_path(slug)
    return [path] + [path.with_name(path.name + suffix) for suffix in COMPANION_SUFFIXES]


def create_database_file(slug: str) -> Path:
    """Create an empty tenant database in WAL mode; refuse to reuse an existing file."""
    path = database_path(slug)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o640))
    except FileExistsError:
        raise TenantDatabaseExists(
            f"A database file for '{slug}' already exists at {path}; "
            "move it away or restore it before creating this tenant."
        ) from None
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA journal_mode=WAL")
    finally:
        connection.close()
    return path


def require_database_file(slug: str) -> Path:
    """Return the tenant's database path; raise TenantDatabaseMissing if it is gone."""
    path = database_path(slug)
    if not path.is_file():
        raise TenantDatabaseMissing(f"The database file of '{slug}' is missing: {path}")
    return path


def delete_database_files(slug: str) -> None:
    """Delete the tenant's database file and its companions, if present."""
    release(slug)
    for path in database_files(slug):
        path.unlink(missing_ok=True)


def is_tenant_alias(alias: str | None) -> bool:
    """Return True if this connection alias belongs to a tenant."""
    return bool(alias) and str(alias).startswith(ALIAS_PREFIX)


def tenant_alias(slug: str) -> str:
    """Return the alias of this tenant's connection, creating it in this thread if needed."""
    alias = ALIAS_PREFIX + slug
    opened = _opened_aliases()
    if alias not in opened:
        connections[alias] = DatabaseWrapper(connection_settings(database_path(slug)), alias)
        opened.add(alias)
    return alias


def _opened_aliases() -> set[str]:
    """Return the tenant aliases that have a connection object in this thread."""
    if not hasattr(_thread, "aliases"):
        _thread.aliases = set()
    return _thread.aliases


def connection_settings(path: Path) -> dict[str, Any]:
    """Return a complete DATABASES entry for a tenant file.

    The file is opened read-write but never created (``mode=rw``): only provisioning
    creates tenant files, so no request can conjure a database from a typo.
    """
    return {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": f"file:{quote(str(path))}?mode=rw",
        "ATOMIC_REQUESTS": False,
        "AUTOCOMMIT": True,
        "CONN_MAX_AGE": 0,
        "CONN_HEALTH_CHECKS": False,
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": settings.TENANT_DB_TIMEOUT,
            "init_command": PRAGMAS,
        },
        "TIME_ZONE": None,
        "USER": "",
        "PASSWORD": "",
        "HOST": "",
        "PORT": "",
        "TEST": {"CHARSET": None, "COLLATION": None, "MIGRATE": True, "MIRROR": None, "NAME": None},
    }


def tenant_connection() -> BaseDatabaseWrapper:
    """Return the connection to the current tenant's database (for raw SQL)."""
    return connections[tenant_alias(require_current_tenant().slug)]


def release(slug: str) -> None:
    """Close this thread's connection to a tenant, if it has one."""
    release_alias(ALIAS_PREFIX + slug)


def release_all() -> None:
    """Close every tenant connection of this thread (at the end of a request or job)."""
    for alias in list(_opened_aliases()):
        release_alias(alias)


def release_alias(alias: str) -> None:
    """Close this thread's connection on a tenant alias and forget it."""
    opened = _opened_aliases()
    if alias in opened:
        opened.discard(alias)
        connections[alias].close()
        del connections[alias]
