from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser

from apps.tenancy.fleet.services import tenant_delete
from apps.tenancy.management.base import TenantCommand


class Command(TenantCommand):
    help = (
        "Delete a workspace. By default its files move to the trash (TENANTS_DATA_DIR/.trash) "
        "and its slug stays held until purge_tenants runs after TENANT_TRASH_RETENTION_DAYS; "
        "--hard deletes the files and frees the slug now, after a confirmation."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--hard", action="store_true", help="Delete for good, now.")
        parser.add_argument(
            "--no-input",
            action="store_false",
            dest="interactive",
            help="Do not ask for confirmation of --hard.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = self.tenant(options["slug"])
        if options["hard"] and options["interactive"]:
            self.confirm(tenant.slug)
        folder = tenant_delete(tenant=tenant, hard=options["hard"])
        if folder is None:
            self.stdout.write(self.style.SUCCESS(f"Deleted '{tenant.slug}' for good."))
            return
        days = settings.TENANT_TRASH_RETENTION_DAYS
        self.stdout.write(self.style.SUCCESS(f"Moved '{tenant.slug}' to the trash: {folder}"))
        self.stdout.write(f"Its slug is freed when purge_tenants runs after {days} day(s).")

    def confirm(self, slug: str) -> None:
        answer = input(
            f"This deletes '{slug}' and all its data for good. Type the slug to confirm: "
        )
        if answer.strip() != slug:
            raise CommandError("Not confirmed; nothing was deleted.")
