"""What the code's migrations are, and whether a tenant file has them all.

Checking a tenant reads its ``django_migrations`` ledger with one plain SQLite query and
compares it with the migration graph, loaded once per process: no Django migration
executor is built for a tenant that is already up to date.
"""

from __future__ import annotations

import hashlib
import sqlite3
import sys
from functools import lru_cache
from pathlib import Path

from django.conf import settings
from django.db.migrations.loader import MigrationLoader

from apps.tenancy.routing.databases import connect

Node = tuple[str, str]


def migration_nodes() -> frozenset[Node]:
    """Return every (app, migration) of the code, as Django records them in each database."""
    return _graph(_settings_key())[0]


def fingerprint() -> str:
    """Return a hash of the migration graph: names and source of every migration."""
    return _graph(_settings_key())[1]


def applied_nodes(path: Path) -> frozenset[Node]:
    """Return the migrations recorded in a database file's ledger."""
    connection = connect(path)
    try:
        rows = connection.execute("SELECT app, name FROM django_migrations").fetchall()
    except sqlite3.OperationalError:
        if not _has_ledger(connection):
            return frozenset()
        raise
    finally:
        connection.close()
    return frozenset((app, name) for app, name in rows)


def pending_nodes(path: Path) -> list[Node]:
    """Return the code's migrations missing from a database file, sorted."""
    return sorted(migration_nodes() - applied_nodes(path))


def unknown_nodes(path: Path) -> list[Node]:
    """Return migrations a file has applied that the code does not know (a newer file)."""
    return sorted(applied_nodes(path) - migration_nodes())


def _settings_key() -> str:
    # MIGRATION_MODULES can point an app at other migrations (tests, benchmarks).
    return repr(sorted(settings.MIGRATION_MODULES.items()))


@lru_cache(maxsize=4)
def _graph(settings_key: str) -> tuple[frozenset[Node], str]:
    loader = MigrationLoader(None, ignore_no_migrations=True)
    digest = hashlib.sha256()
    for key in sorted(loader.graph.nodes):
        migration = loader.graph.nodes[key]
        digest.update(repr(key).encode())
        source = getattr(sys.modules[type(migration).__module__], "__file__", None)
        if source:
            digest.update(Path(source).read_bytes())
    return frozenset(loader.graph.nodes), digest.hexdigest()[:16]


def _has_ledger(connection: sqlite3.Connection) -> bool:
    """Return True if the file has Django's migration table."""
    query = "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'django_migrations'"
    return connection.execute(query).fetchone() is not None
