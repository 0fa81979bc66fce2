"""What the tenancy commands share: finding a tenant, and errors as CommandError."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.models import Tenant
from apps.tenancy.selectors import tenant_get


class TenantCommand(BaseCommand):
    """A command about tenants; an ApplicationError ends it as a CommandError with its reason."""

    def execute(self, *args: Any, **options: Any) -> Any:
        try:
            return super().execute(*args, **options)
        except ApplicationError as exc:
            raise CommandError(str(exc)) from exc

    def tenant(self, slug: str) -> Tenant:
        """Return the tenant with this slug, or fail naming it."""
        tenant = tenant_get(slug=slug)
        if tenant is None:
            raise CommandError(f"No tenant '{slug}' in the catalog (see list_tenants).")
        return tenant
