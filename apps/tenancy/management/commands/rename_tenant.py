from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.fleet.services import tenant_rename
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.routing.urls import tenant_url


class Command(TenantCommand):
    help = (
        "Give a workspace a new subdomain; its database file, -wal and -shm move with it as "
        "one journaled step (the workspace answers 'one moment' meanwhile). If the command is "
        "killed, the next command or request for the workspace finishes the rename."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("old_slug")
        parser.add_argument("new_slug")

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = tenant_rename(
            tenant=self.tenant(options["old_slug"]), new_slug=options["new_slug"]
        )
        self.stdout.write(
            self.style.SUCCESS(f"Renamed '{options['old_slug']}' to '{tenant.slug}'.")
        )
        self.stdout.write(f"URL: {tenant_url(tenant.slug)}")
