"""Apply migrations to one tenant database, all of them or none."""

from __future__ import annotations

from pathlib import Path

from django.core.management.sql import emit_post_migrate_signal
from django.db import connections, transaction
from django.db.migrations.executor import MigrationExecutor

from apps.tenancy.databases import ALIAS_PREFIX, open_alias, release_alias


def migrate_database(alias: str) -> list[str]:
    """Apply every pending migration to one database in a single transaction.

    SQLite DDL is transactional, so if any migration fails, the file is left exactly
    as it was: no half-applied plan, no ledger rows for the migrations that did run.
    Returns the applied migrations as ``app.name``.
    """
    connection = connections[alias]
    executor = MigrationExecutor(connection)
    targets = executor.loader.graph.leaf_nodes()
    plan = executor.migration_plan(targets)
    if not plan:
        return []
    # Foreign-key enforcement cannot change inside a transaction: switch it off first,
    # as Django's SQLite schema editor does for each migration, and check at the end.
    connection.disable_constraint_checking()
    try:
        with transaction.atomic(using=alias):
            executor.migrate(targets, plan=plan)
            connection.check_constraints()
            emit_post_migrate_signal(0, False, alias)
    finally:
        connection.enable_constraint_checking()
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def migrate_file(path: Path) -> list[str]:
    """Migrate a database file that no tenant serves yet (a template, a staged restore)."""
    alias = open_alias(f"{ALIAS_PREFIX}.{path.name}", path)
    try:
        return migrate_database(alias)
    finally:
        release_alias(alias)  # the last connection closing folds the WAL into the file
