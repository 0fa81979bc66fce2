from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.tenancy.fleet.services import tenant_purge
from apps.tenancy.management.base import TenantCommand


class Command(TenantCommand):
    help = (
        "Remove trash older than TENANT_TRASH_RETENTION_DAYS (deleted and replaced tenant "
        "files) and free the slugs of tenants deleted before then. It also finishes what a "
        "killed command left: interrupted renames, restores and deletes, sign-ups that "
        "died half-way (after TENANT_PROVISIONING_TIMEOUT), scratch files of dead processes."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        report = tenant_purge()
        for line in report.recovered:
            self.stdout.write(f"Finished: {line}")
        for slug in report.reaped:
            self.stdout.write(f"Freed '{slug}' (its sign-up died half-way)")
        for name in report.removed:
            self.stdout.write(f"Removed {name}")
        days = settings.TENANT_TRASH_RETENTION_DAYS
        count = len(report.removed)
        self.stdout.write(f"Purged {count} trash folder(s) older than {days} day(s).")
