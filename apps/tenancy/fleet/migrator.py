"""Apply migrations to one tenant database, all of them or none."""

from __future__ import annotations

from pathlib import Path

from django.apps import apps
from django.db import connections, transaction
from django.db.migrations.executor import MigrationExecutor
from django.db.models.signals import post_migrate

from apps.tenancy.routing.databases import ALIAS_PREFIX, open_alias, release_alias


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
            _emit_post_migrate(alias, {migration.app_label for migration, _ in plan})
    finally:
        connection.enable_constraint_checking()
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def _emit_post_migrate(alias: str, app_labels: set[str]) -> None:
    """Send post_migrate for the apps whose migrations ran.

    ``manage.py migrate`` sends it for every installed app; its receivers (content
    types, permissions) only have work where an app's models changed, and sending it
    for all apps costs more than the migration itself when a fleet gets one new
    migration.
    """
    for app_config in apps.get_app_configs():
        if app_config.label in app_labels and app_config.models_module is not None:
            post_migrate.send(
                sender=app_config,
                app_config=app_config,
                verbosity=0,
                interactive=False,
                using=alias,
                apps=apps,
            )


def migrate_file(path: Path) -> list[str]:
    """Migrate a database file that no tenant serves yet (a template, a staged restore)."""
    alias = open_alias(f"{ALIAS_PREFIX}.{path.name}", path, served=False)
    try:
        return migrate_database(alias)
    finally:
        release_alias(alias)  # the last connection closing folds the WAL into the file
