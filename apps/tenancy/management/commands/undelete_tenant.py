from __future__ import annotations

from typing import Any

from django.core.management.base import CommandError, CommandParser

from apps.tenancy.fleet.services import tenant_undelete
from apps.tenancy.management.base import TenantCommand


class Command(TenantCommand):
    help = (
        "Bring a deleted workspace back from the trash, within TENANT_TRASH_RETENTION_DAYS: "
        "its database, replication state and stored files return and it is active again. "
        "Refused when the trash period is over, the trash copy is gone or the slug is taken."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")

    def handle(self, *args: Any, **options: Any) -> None:
        slug = options["slug"]
        tenant = self.tenant(slug)
        if tenant.status != tenant.Status.DELETED:
            raise CommandError(f"'{slug}' is {tenant.status}, not deleted: nothing to undelete.")
        tenant_undelete(tenant=tenant)
        self.stdout.write(self.style.SUCCESS(f"Undeleted '{slug}': it is active again."))
