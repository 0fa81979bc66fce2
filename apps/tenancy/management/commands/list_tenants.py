from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.core.management.base import CommandParser

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.models import Tenant
from apps.tenancy.replication import replication_position
from apps.tenancy.selectors import (
    tenant_database_size,
    tenant_last_activity,
    tenant_list,
    tenant_pending_count,
)


class Command(TenantCommand):
    help = (
        "List the workspaces: slug, status, size on disk, migration state "
        "(up to date / N pending), last write, and with QUIRE_REPLICATION on, how far each "
        "replica has come."
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
            replication = f"  {row['replication']}" if "replication" in row else ""
            self.stdout.write(f"{columns} {activity}{replication}")

    def describe(self, tenant: Tenant) -> dict[str, Any]:
        last = tenant_last_activity(tenant=tenant)
        row = {
            "slug": tenant.slug,
            "name": tenant.name,
            "status": tenant.status,
            "home_node": tenant.home_node,
            "size_bytes": tenant_database_size(tenant=tenant),
            "migrations": self.migration_state(tenant),
            "last_activity": last.isoformat() if last else None,
        }
        if settings.QUIRE_REPLICATION and tenant.has_database:
            row["replication"] = self.replication_state(tenant)
        return row

    def replication_state(self, tenant: Tenant) -> str:
        position = replication_position(slug=tenant.slug)
        if position.replica_txid is None:
            return "no replica yet"
        lag = "in step" if not position.behind else f"{position.behind} txn behind"
        return f"txid {position.replica_txid:x} at {position.replica_time} ({lag})"

    def migration_state(self, tenant: Tenant) -> str:
        if not tenant.has_database:
            return "-"
        try:
            pending = tenant_pending_count(tenant=tenant)
        except ApplicationError as exc:
            return f"error: {exc}"
        return f"{pending} pending" if pending else "up to date"
