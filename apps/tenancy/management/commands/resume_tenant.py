from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.fleet.services import tenant_resume
from apps.tenancy.management.base import TenantCommand


class Command(TenantCommand):
    help = "Resume a suspended workspace."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_resume(tenant=self.tenant(options["slug"]))
        self.stdout.write(self.style.SUCCESS(f"Resumed '{options['slug']}'."))
