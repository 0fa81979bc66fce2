"""Local settings plus a slow new posts migration, for killing migrate_tenants midway."""

from config.settings.local import *  # noqa: F403

MIGRATION_MODULES = {"posts": "tests.fleet_migrations.slow_pinned"}
