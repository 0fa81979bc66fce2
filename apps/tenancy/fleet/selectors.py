"""Read the catalog and the state of tenant databases."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.tenancy.fleet import schema
from apps.tenancy.models import Tenant
from apps.tenancy.nodes.bookmarks import Bookmark, bookmark_of
from apps.tenancy.routing import catalogcache
from apps.tenancy.routing.databases import (
    database_files,
    database_path,
    require_database_file,
    tenant_alias,
)


def tenant_get(*, slug: str) -> Tenant | None:
    """Return the tenant with this slug, whatever its status, or None.

    Every request asks this once, so it skips the query compiler: a fixed statement for
    the fields a request needs, and ``Model.from_db`` to build the instance (a tenth of
    the ORM's cost). The other fields are deferred: Django loads them on first access.
    """
    row = _lookup_row(slug)
    return Tenant.from_db(DEFAULT_DB_ALIAS, _FIELDS, row) if row else None


def tenant_get_for_request(*, slug: str) -> Tenant | None:
    """Return the tenant a request (a page or an SQL API call) for this slug is served by.

    It comes from the process's kept catalog rows (``apps.tenancy.routing.catalogcache``),
    a copy of its own for each call. Where rows are kept for a while (a shared catalog
    server), a kept row is trusted only to serve a tenant here whose file is here; anything
    else is read again.
    """
    tenant = catalogcache.cached_copy(slug, _tenant_by_slug)
    if catalogcache.exact() or _served_here(tenant):
        return tenant
    return tenant_get(slug=slug)


def _tenant_by_slug(slug: str) -> Tenant | None:
    return tenant_get(slug=slug)


def _served_here(tenant: Tenant | None) -> bool:
    """Return True if this node serves the tenant from its own file."""
    return (
        tenant is not None
        and tenant.is_servable
        and tenant.home_node in ("", settings.QUIRE_NODE_ID)
        and database_path(tenant.slug).exists()
    )


def _lookup_row(slug: str) -> tuple[Any, ...] | None:
    connection = connections[DEFAULT_DB_ALIAS]
    with connection.cursor() as cursor:
        cursor.execute(_lookup_sql(connection.vendor), [slug])
        row = cursor.fetchone()
    return tuple(row) if row else None


_FIELDS = ["id", "slug", "name", "status", "home_node", "max_db_bytes"]


@lru_cache(maxsize=4)
def _lookup_sql(vendor: str) -> str:
    quote = connections[DEFAULT_DB_ALIAS].ops.quote_name
    fields = {field.attname: field.column for field in Tenant._meta.concrete_fields}
    columns = ", ".join(quote(fields[name]) for name in _FIELDS)
    table = quote(Tenant._meta.db_table)
    return f"SELECT {columns} FROM {table} WHERE {quote('slug')} = %s"  # noqa: S608


def tenant_list(*, statuses: Sequence[str] | None = None) -> QuerySet[Tenant]:
    """Return tenants ordered by slug, optionally only those with these statuses."""
    tenants = Tenant.objects.order_by("slug")
    if statuses is not None:
        tenants = tenants.filter(status__in=statuses)
    return tenants


def tenant_slug_available(*, slug: str) -> bool:
    """Return True if no tenant holds this slug.

    A claim whose provisioning died (never activated, older than
    TENANT_PROVISIONING_TIMEOUT) holds nothing: the next claim clears it.
    """
    return not Tenant.objects.filter(slug=slug).exclude(_abandoned_claim()).exists()


def _abandoned_claim() -> Q:
    cutoff = timezone.now() - timedelta(seconds=settings.TENANT_PROVISIONING_TIMEOUT)
    return Q(status=Tenant.Status.PROVISIONING, activated_at__isnull=True, created_at__lte=cutoff)


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


def tenant_bookmark(*, tenant: Tenant) -> Bookmark | None:
    """Return how far the tenant's file here has come, or None if it cannot be read."""
    path = database_path(tenant.slug)
    if not path.is_file():
        return None
    try:
        return bookmark_of(path)
    except sqlite3.Error:
        return None
