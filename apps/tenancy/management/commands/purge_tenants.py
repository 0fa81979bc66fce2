from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.tenancy.management.base import TenantCommand
from apps.tenancy.services import tenant_purge


class Command(TenantCommand):
    help = (
        "Remove trash older than TENANT_TRASH_RETENTION_DAYS (deleted and replaced tenant "
        "files) and free the slugs of tenants deleted before then."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        removed = tenant_purge()
        for name in removed:
            self.stdout.write(f"Removed {name}")
        days = settings.TENANT_TRASH_RETENTION_DAYS
        self.stdout.write(f"Purged {len(removed)} trash folder(s) older than {days} day(s).")
