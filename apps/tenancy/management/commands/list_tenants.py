from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.tenancy.selectors import tenant_database_size, tenant_list


class Command(BaseCommand):
    help = "List the workspaces in the catalog with their status and size on disk."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")

    def handle(self, *args: Any, **options: Any) -> None:
        rows: list[dict[str, Any]] = [
            {"slug": t.slug, "status": t.status, "size_bytes": tenant_database_size(tenant=t)}
            for t in tenant_list()
        ]
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not rows:
            self.stdout.write("No tenants.")
            return
        self.stdout.write(f"{'SLUG':<30} {'STATUS':<13} {'SIZE':>10}")
        for row in rows:
            size = f"{row['size_bytes'] / 1024:.0f} KiB"
            self.stdout.write(f"{row['slug']:<30} {row['status']:<13} {size:>10}")
