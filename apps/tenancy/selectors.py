"""Read the catalog and the state of tenant databases."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from django.db import connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import QuerySet

from apps.tenancy import schema
from apps.tenancy.databases import database_files, require_database_file, tenant_alias
from apps.tenancy.models import Tenant


def tenant_get(*, slug: str) -> Tenant | None:
    """Return the tenant with this slug, whatever its status, or None."""
    return Tenant.objects.filter(slug=slug).first()


def tenant_list(*, statuses: Sequence[str] | None = None) -> QuerySet[Tenant]:
    """Return tenants ordered by slug, optionally only those with these statuses."""
    tenants = Tenant.objects.order_by("slug")
    if statuses is not None:
        tenants = tenants.filter(status__in=statuses)
    return tenants


def tenant_slug_available(*, slug: str) -> bool:
    """Return True if no tenant holds this slug."""
    return not Tenant.objects.filter(slug=slug).exists()


def tenant_database_size(*, tenant: Tenant) -> int:
    """Return the bytes on disk of the tenant's database and its companions."""
    return sum(path.stat().st_size for path in database_files(tenant.slug) if path.exists())


def tenant_pending_count(*, tenant: Tenant) -> int:
    """Return how many migrations the tenant's database lacks (one ledger query)."""
    return len(schema.pending_nodes(require_database_file(tenant.slug)))


def tenant_pending_migrations(*, tenant: Tenant) -> list[str]:
    """Return the migrations not yet applied to the tenant's database, in plan order."""
    if not tenant_pending_count(tenant=tenant):
        return []
    executor = MigrationExecutor(connections[tenant_alias(tenant.slug)])
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    return [f"{migration.app_label}.{migration.name}" for migration, _backwards in plan]


def tenant_last_activity(*, tenant: Tenant) -> datetime | None:
    """Return when the tenant's database (or its WAL) was last written."""
    times = [path.stat().st_mtime for path in database_files(tenant.slug) if path.exists()]
    return datetime.fromtimestamp(max(times), tz=UTC) if times else None
