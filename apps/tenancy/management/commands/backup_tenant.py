from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from apps.tenancy.fleet.services import tenant_backup
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.routing.storage import files_beside


class Command(TenantCommand):
    help = (
        "Write a consistent snapshot of a workspace's database while it keeps serving writes, "
        "and a copy of its stored files (attachments) beside it in <file>.files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "-o",
            "--output",
            type=Path,
            help="File to write (default: ./<slug>-<UTC time>.sqlite3). Never overwritten.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = self.tenant(options["slug"])
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        output = options["output"] or Path(f"{tenant.slug}-{stamp}.sqlite3")
        tenant_backup(tenant=tenant, destination=output.resolve(), stored_files=True)
        self.stdout.write(self.style.SUCCESS(f"Backed up '{tenant.slug}' to {output}"))
        if files_beside(output).is_dir():
            self.stdout.write(f"Its stored files (attachments) are in {files_beside(output)}")
