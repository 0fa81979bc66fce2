from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser
from django.utils import timezone

from apps.tenancy.management.base import TenantCommand
from apps.tenancy.services import tenant_backup


class Command(TenantCommand):
    help = "Write a consistent snapshot of a workspace's database while it keeps serving writes."

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
        tenant_backup(tenant=tenant, destination=output.resolve())
        self.stdout.write(self.style.SUCCESS(f"Backed up '{tenant.slug}' to {output}"))
