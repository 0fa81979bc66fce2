from __future__ import annotations

import json
import sqlite3
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.fleet.doctor import health_from_error
from apps.tenancy.fleet.selectors import tenant_list
from apps.tenancy.fleet.services import tenant_adopt
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.models import Tenant


class Command(TenantCommand):
    help = (
        "Rebuild on this node, from their replicas, every tenant homed on a lost node, and "
        "home them here (QUIRE_NODE_ID). Reports per tenant; goes on past failures."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--from", dest="node", required=True, metavar="NODE", help="The lost node's id."
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON summary only.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["node"] == settings.QUIRE_NODE_ID:
            raise CommandError(f"'{options['node']}' is this node; name the node that was lost.")
        served = [Tenant.Status.ACTIVE, Tenant.Status.SUSPENDED]
        tenants = [t for t in tenant_list(statuses=served) if t.home_node == options["node"]]
        restored, failed = [], {}
        for tenant in tenants:
            try:
                tenant_adopt(tenant=tenant)
            except (ApplicationError, sqlite3.Error, DatabaseError) as exc:
                failed[tenant.slug] = reason = self.failure(tenant, exc)
                self.line(options, self.style.ERROR(f"{tenant.slug}: FAILED: {reason}"))
                continue
            restored.append(tenant.slug)
            self.line(options, self.style.SUCCESS(f"{tenant.slug}: restored here"))
        if options["json"]:
            self.stdout.write(json.dumps({"restored": restored, "failed": failed}))
        else:
            moved = f"{len(restored)} of {len(tenants)} tenant(s) of '{options['node']}'"
            self.stdout.write(f"{moved} now on '{settings.QUIRE_NODE_ID}'.")
        if failed:
            raise CommandError(
                f"{len(failed)} tenant(s) could not be restored: {', '.join(failed)}"
            )

    def failure(self, tenant: Tenant, error: BaseException) -> str:
        """Describe a failure, in SQLite's words when a file was damaged or unreadable."""
        health = health_from_error(slug=tenant.slug, error=error)
        return str(health) if health.is_damage else str(error)

    def line(self, options: dict[str, Any], text: str) -> None:
        if not options["json"]:
            self.stdout.write(text)
