from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.models import Tenant
from apps.tenancy.selectors import (
    tenant_database_size,
    tenant_last_activity,
    tenant_list,
    tenant_pending_count,
)


class Command(TenantCommand):
    help = (
        "List the workspaces: slug, status, size on disk, migration state "
        "(up to date / N pending) and last write."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")

    def handle(self, *args: Any, **options: Any) -> None:
        rows = [self.describe(tenant) for tenant in tenant_list()]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No tenants.")
            return
        self.stdout.write(
            f"{'SLUG':<24} {'STATUS':<13} {'SIZE':>10}  {'MIGRATIONS':<14} LAST WRITE"
        )
        for row in rows:
            size = f"{row['size_bytes'] / 1024:.0f} KiB"
            activity = (row["last_activity"] or "-")[:19].replace("T", " ")
            columns = f"{row['slug']:<24} {row['status']:<13} {size:>10}  {row['migrations']:<14}"
            self.stdout.write(f"{columns} {activity}")

    def describe(self, tenant: Tenant) -> dict[str, Any]:
        last = tenant_last_activity(tenant=tenant)
        return {
            "slug": tenant.slug,
            "name": tenant.name,
            "status": tenant.status,
            "size_bytes": tenant_database_size(tenant=tenant),
            "migrations": self.migration_state(tenant),
            "last_activity": last.isoformat() if last else None,
        }

    def migration_state(self, tenant: Tenant) -> str:
        if not tenant.has_database:
            return "-"
        try:
            pending = tenant_pending_count(tenant=tenant)
        except ApplicationError as exc:
            return f"error: {exc}"
        return f"{pending} pending" if pending else "up to date"
