from __future__ import annotations

import json
import sqlite3
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.management.base import CommandError, CommandParser
from django.db import DatabaseError
from django.utils import timezone

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.fleet.doctor import Health, file_health, health_from_error
from apps.tenancy.fleet.selectors import (
    tenant_bookmark,
    tenant_database_size,
    tenant_last_activity,
    tenant_list,
    tenant_pending_count,
)
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.metering import QUOTA_NAMES, usage_summaries
from apps.tenancy.models import ReplicaPlacement, Tenant
from apps.tenancy.nodes.bookmarks import Bookmark
from apps.tenancy.nodes.replication import replication_position
from apps.tenancy.nodes.supervisor import REPORT_EVERY_SECONDS


class Command(TenantCommand):
    help = (
        "List the workspaces: slug, status, health, size on disk, migration state "
        "(up to date / N pending), last write, and with QUIRE_REPLICATION on, how far each "
        "backup replica has come; for a workspace with read replicas (replicate_tenant), "
        "its primary and each replica's position, lag in commits and whether its node "
        "follows it (only replicas read lately are followed). A workspace whose "
        "file is missing or fails to read (SQLite's reason is shown) is listed as such, "
        "and the command then exits 1 naming it; check_tenants scans whole files."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="Print a JSON array.")
        parser.add_argument(
            "--usage",
            action="store_true",
            help="Add each workspace's usage today and this month (requests, rows read and "
            'written, API calls), its plan and quotas (in JSON: a "usage" object).',
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = list(tenant_list().prefetch_related("replicas"))
        rows = [self.describe(tenant) for tenant in tenants]
        if options["usage"]:
            add_usage(rows, tenants)
        if options["json"]:
            self.stdout.write(json.dumps(rows, indent=2))
        elif rows:
            self.show(rows)
        else:
            self.stdout.write("No tenants.")
        self.fail_if_unhealthy(rows)

    def show(self, rows: list[dict[str, Any]]) -> None:
        self.stdout.write(
            f"{'SLUG':<24} {'STATUS':<13} {'HEALTH':<10} {'SIZE':>10}  {'MIGRATIONS':<14} "
            "LAST WRITE"
        )
        for row in rows:
            size = f"{row['size_bytes'] / 1024:.0f} KiB"
            activity = (row["last_activity"] or "-")[:19].replace("T", " ")
            health = row["health"] or "-"
            columns = f"{row['slug']:<24} {row['status']:<13} {health:<10} {size:>10}  "
            replication = f"  {row['replication']}" if "replication" in row else ""
            self.stdout.write(f"{columns}{row['migrations']:<14} {activity}{replication}")
            if row["error"]:
                self.stdout.write(self.style.ERROR(f"  {health}: {row['error']}"))
            if row["replicas"]:
                self.stdout.write(f"  {_placement_line(row)}")
            if "usage" in row:
                self.stdout.write(f"  {usage_line(row['usage'])}")

    def fail_if_unhealthy(self, rows: list[dict[str, Any]]) -> None:
        bad = [row for row in rows if row["health"] not in (None, "ok")]
        if bad:
            names = ", ".join(f"{row['slug']} ({row['health']}: {row['error']})" for row in bad)
            raise CommandError(f"{len(bad)} workspace(s) could not be read: {names}")

    def describe(self, tenant: Tenant) -> dict[str, Any]:
        last = tenant_last_activity(tenant=tenant)
        health, migrations = self.migration_state(tenant)
        row = {
            "slug": tenant.slug,
            "name": tenant.name,
            "status": tenant.status,
            "home_node": tenant.home_node,
            "health": health.status if health else None,
            "error": health.reason if health else "",
            "size_bytes": tenant_database_size(tenant=tenant),
            "migrations": migrations,
            "last_activity": last.isoformat() if last else None,
        }
        if settings.QUIRE_REPLICATION and tenant.has_database:
            row["replication"] = self.replication_state(tenant)
        row.update(self.placement(tenant, readable=bool(health and health.ok)))
        return row

    def placement(self, tenant: Tenant, *, readable: bool) -> dict[str, Any]:
        """Describe the primary and each read replica, with positions and lag in commits."""
        mark = tenant_bookmark(tenant=tenant) if readable else None
        replicas = [
            {
                "node": replica.node,
                "epoch": replica.epoch,
                "position": replica.position,
                "lag": _lag(mark, replica),
                "following": _following(replica),
                "reported_at": replica.reported_at.isoformat() if replica.reported_at else None,
            }
            for replica in tenant.replicas.all()
        ]
        primary = {
            "node": tenant.home_node or settings.QUIRE_NODE_ID,
            "epoch": mark.epoch if mark else None,
            "position": mark.position if mark else None,
        }
        return {"primary": primary, "replicas": replicas}

    def replication_state(self, tenant: Tenant) -> str:
        position = replication_position(slug=tenant.slug)
        if position.replica_txid is None:
            return "no replica yet"
        lag = "in step" if not position.behind else f"{position.behind} txn behind"
        return f"txid {position.replica_txid:x} at {position.replica_time} ({lag})"

    def migration_state(self, tenant: Tenant) -> tuple[Health | None, str]:
        """Return the file's health as far as reading its ledger tells, and what it lacks."""
        if not tenant.has_database:
            return None, "-"
        health = file_health(slug=tenant.slug)
        if not health.ok:
            return health, "-"
        try:
            pending = tenant_pending_count(tenant=tenant)
        except (ApplicationError, sqlite3.Error, DatabaseError) as exc:
            return health_from_error(slug=tenant.slug, error=exc), "-"
        return health, f"{pending} pending" if pending else "up to date"


def add_usage(rows: list[dict[str, Any]], tenants: list[Tenant]) -> None:
    """Add each workspace's "usage" (today, month, plan, quotas) to its row."""
    summaries = usage_summaries(tenant_ids=[tenant.pk for tenant in tenants])
    for row, tenant in zip(rows, tenants, strict=True):
        row["usage"] = summaries[tenant.pk]


def usage_line(usage: dict[str, Any]) -> str:
    """Return "usage today: 3 requests, 120 rows read, ...; this month: ...; plan free: ..."."""

    def counts(values: dict[str, int]) -> str:
        return (
            f"{values['requests']:,} requests, {values['rows_read']:,} rows read, "
            f"{values['rows_written']:,} rows written, {values['api_calls']:,} API calls"
        )

    plan = "no plan"
    if usage["plan"] is not None:
        quotas = [
            f"{QUOTA_NAMES[kind]} {usage['month'][kind]:,}/{limit:,}"
            for kind, limit in usage["quotas"].items()
            if limit is not None
        ]
        plan = f"plan {usage['plan']}: " + (", ".join(quotas) or "no quotas")
    return f"usage today: {counts(usage['today'])}; this month: {counts(usage['month'])}; {plan}"


def _lag(primary: Bookmark | None, replica: ReplicaPlacement) -> int | None:
    """Return how many commits a replica is behind; None if unknown or before a restore."""
    if primary is None or replica.position is None or replica.epoch != primary.epoch:
        return None
    return max(0, primary.position - replica.position)


def _following(replica: ReplicaPlacement) -> bool:
    """Return True if the node follows this replica: its supervisor reports it lately."""
    if replica.position is None or replica.reported_at is None:
        return False
    return timezone.now() - replica.reported_at <= timedelta(seconds=2.5 * REPORT_EVERY_SECONDS)


def _placement_line(row: dict[str, Any]) -> str:
    """Return "primary node-1 at 12; replicas: node-2 at 10 (2 behind), node-3 not reported"."""
    primary = row["primary"]
    at = f" at {primary['position']}" if primary["position"] is not None else ""
    replicas = []
    for replica in row["replicas"]:
        if replica["position"] is None and replica["reported_at"]:
            replicas.append(f"{replica['node']} not following (not read lately)")
        elif replica["position"] is None:
            replicas.append(f"{replica['node']} not reported yet")
        elif not replica["following"]:
            replicas.append(f"{replica['node']} silent since {replica['reported_at'][:19]}")
        elif replica["epoch"] != primary["epoch"]:
            replicas.append(f"{replica['node']} still before the last restore")
        else:
            lag = f" ({replica['lag']} behind)" if replica["lag"] else ""
            replicas.append(f"{replica['node']} at {replica['position']}{lag}")
    return f"primary {primary['node']}{at}; replicas: {', '.join(replicas)}"
