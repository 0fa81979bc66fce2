from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from apps.tenancy.fleet.services import tenant_backup, tenant_export_sql
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.routing.storage import files_beside


class Command(TenantCommand):
    help = (
        "Export a workspace as a SQLite file or a SQL dump (full-text tables included); "
        "either re-imports with restore_tenant. Stored files (attachments) go beside it, "
        "in <file>.files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--format", choices=["sql", "sqlite"], default="sql")
        parser.add_argument(
            "-o",
            "--output",
            type=Path,
            help="File to write (default: ./<slug>-<UTC time>.<format>). Never overwritten.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = self.tenant(options["slug"])
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        extension = "sql" if options["format"] == "sql" else "sqlite3"
        output = (options["output"] or Path(f"{tenant.slug}-{stamp}.{extension}")).resolve()
        if options["format"] == "sql":
            tenant_export_sql(tenant=tenant, destination=output, stored_files=True)
        else:
            tenant_backup(tenant=tenant, destination=output, stored_files=True)
        self.stdout.write(self.style.SUCCESS(f"Exported '{tenant.slug}' to {output}"))
        if files_beside(output).is_dir():
            self.stdout.write(f"Its stored files (attachments) are in {files_beside(output)}")
