from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.fleet.services import tenant_suspend
from apps.tenancy.management.base import TenantCommand


class Command(TenantCommand):
    help = "Suspend a workspace: its pages answer 403 'suspended'; its data is untouched."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant_suspend(tenant=self.tenant(options["slug"]))
        self.stdout.write(self.style.SUCCESS(f"Suspended '{options['slug']}'."))
