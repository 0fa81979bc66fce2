"""What the tenancy commands share: finding a tenant, and errors as CommandError."""

from __future__ import annotations

import sqlite3
from typing import Any

from django.core.management.base import BaseCommand, CommandError
from django.db import DatabaseError

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.fleet.doctor import Health, health_from_error, tenant_health
from apps.tenancy.fleet.selectors import tenant_get, tenant_list
from apps.tenancy.models import Tenant

SERVED = [Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED]


def served_tenants(slugs: list[str] | None) -> list[Tenant]:
    """Return the active and suspended tenants (only these slugs if given), by slug."""
    tenants = list(tenant_list(statuses=SERVED))
    if not slugs:
        return tenants
    unknown = set(slugs) - {tenant.slug for tenant in tenants}
    if unknown:
        raise CommandError(f"No such workspace (active or suspended): {', '.join(sorted(unknown))}")
    return [tenant for tenant in tenants if tenant.slug in slugs]


class TenantCommand(BaseCommand):
    """A command about tenants; expected failures end it as a CommandError with the reason.

    An ApplicationError gives its message. When the workspace the command names has a
    file SQLite finds damaged or cannot read, SQLite's reason is given; any other database
    error is left to propagate.
    """

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc
        except (sqlite3.Error, DatabaseError) as exc:
            health = self.damage_behind(exc, options.get("slug"))
            if health is None:
                raise
            raise CommandError(f"'{health.slug}': {health} (see check_tenants)") from exc

    def damage_behind(self, error: BaseException, slug: str | None) -> Health | None:
        """Return the named workspace's health if the error comes from its damaged file.

        The error alone cannot say which file it came from (the catalog is a database
        too), so the workspace's file is checked before it is blamed.
        """
        tenant = tenant_get(slug=slug) if slug else None
        if tenant is None or not health_from_error(slug=tenant.slug, error=error).is_damage:
            return None
        health = tenant_health(tenant=tenant)
        return None if health.ok else health

    def tenant(self, slug: str) -> Tenant:
        """Return the tenant with this slug, or fail naming it."""
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant '{slug}' in the catalog (see list_tenants).")
        return tenant
