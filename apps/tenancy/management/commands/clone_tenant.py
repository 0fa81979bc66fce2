from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.fleet.services import tenant_clone
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.routing.urls import tenant_url


class Command(TenantCommand):
    help = "Create a workspace from a consistent copy of another, taken while it keeps serving."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("source_slug")
        parser.add_argument("new_slug")
        parser.add_argument("--name", help="Display name (default: the source's, with '(copy)').")

    def handle(self, *args: Any, **options: Any) -> None:
        source = self.tenant(options["source_slug"])
        name = options["name"] or f"{source.name} (copy)"
        tenant = tenant_clone(source=source, slug=options["new_slug"], name=name)
        self.stdout.write(self.style.SUCCESS(f"Cloned '{source.slug}' into '{tenant.slug}'."))
        self.stdout.write(f"URL: {tenant_url(tenant.slug)}")
