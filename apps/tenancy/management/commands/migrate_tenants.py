from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.models import Tenant
from apps.tenancy.selectors import tenant_list
from apps.tenancy.services import tenant_migrate


class Command(BaseCommand):
    help = (
        "Apply pending migrations to every tenant database (active and suspended), "
        "one after another, and report per tenant. Plain 'migrate' does the catalog only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tenant",
            action="append",
            dest="slugs",
            metavar="SLUG",
            help="Migrate only this tenant (repeatable).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = [Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED]
        tenants = tenant_list(statuses=statuses)
        if options["slugs"]:
            tenants = tenants.filter(slug__in=options["slugs"])
            missing = set(options["slugs"]) - {t.slug for t in tenants}
            if missing:
                raise CommandError(f"No such tenant: {', '.join(sorted(missing))}")
        failures = [slug for tenant in tenants if (slug := self.migrate_one(tenant))]
        if failures:
            raise CommandError(
                f"{len(failures)} tenant(s) failed to migrate: {', '.join(failures)}"
            )

    def migrate_one(self, tenant: Tenant) -> str | None:
        """Migrate one tenant, report it, and return its slug if it failed."""
        try:
            applied = tenant_migrate(tenant=tenant)
        except ApplicationError as exc:
            self.stdout.write(self.style.ERROR(f"{tenant.slug}: FAILED: {exc}"))
            return tenant.slug
        if applied:
            self.stdout.write(
                self.style.SUCCESS(f"{tenant.slug}: applied {len(applied)} migration(s)")
            )
        else:
            self.stdout.write(f"{tenant.slug}: up to date")
        return None
