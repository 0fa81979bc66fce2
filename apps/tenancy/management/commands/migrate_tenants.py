from __future__ import annotations

import json
import os
import sqlite3
import sys
import time
from collections.abc import Callable
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError
from tqdm import tqdm

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.fleet.doctor import Health, file_health, health_from_error
from apps.tenancy.fleet.migrate_all import TenantReport, migrate_tenants
from apps.tenancy.fleet.selectors import (
    tenant_list,
    tenant_pending_count,
    tenant_pending_migrations,
)
from apps.tenancy.management.base import SERVED, served_tenants
from apps.tenancy.models import Tenant
from apps.tenancy.routing.databases import release_all


class Command(BaseCommand):
    help = (
        "Apply pending migrations to every tenant database (active and suspended) with "
        "parallel workers. Each tenant is migrated in one transaction: a failure leaves it "
        "as it was, the others go on, and the summary lists every failure; a missing or "
        "damaged file is named as such with SQLite's reason. Re-running continues where a "
        "run stopped. Plain 'migrate' does the catalog only."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--tenant",
            action="append",
            dest="slugs",
            metavar="SLUG",
            help="Only this tenant (repeatable).",
        )
        parser.add_argument(
            "--workers",
            type=int,
            default=os.cpu_count() or 1,
            help="Worker processes (default: the number of CPUs).",
        )
        parser.add_argument(
            "--canary",
            type=int,
            default=0,
            metavar="N",
            help="Migrate N tenants first and stop if any of them fails.",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--check",
            action="store_true",
            help=(
                "Change nothing; exit 1 listing tenants with unapplied migrations and those "
                "whose file is missing or damaged."
            ),
        )
        mode.add_argument(
            "--plan", action="store_true", help="Change nothing; print what would run, per tenant."
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON summary only.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["workers"] < 1:
            raise CommandError("--workers must be at least 1.")
        tenants = served_tenants(options["slugs"])
        if options["check"]:
            return self.show_pending(tenants, as_json=options["json"])
        if options["plan"]:
            return self.show_plan(tenants, as_json=options["json"])
        return self.apply(tenants, options)

    def show_pending(self, tenants: list[Tenant], *, as_json: bool) -> None:
        behind, problems = {}, []
        for tenant in tenants:
            count = self.pending_or_health(tenant_pending_count, tenant)
            if isinstance(count, Health):
                problems.append(count)
            elif count:
                behind[tenant.slug] = count
        if as_json:
            summary = {"tenants": len(tenants), "pending": behind}
            if problems:
                summary["problems"] = [health.as_dict() for health in problems]
            self.stdout.write(json.dumps(summary))
        else:
            for slug, count in behind.items():
                self.stdout.write(f"{slug}: {count} unapplied migration(s)")
            for health in problems:
                self.stdout.write(self.style.ERROR(f"{health.slug}: {health}"))
        if behind:
            self.stderr.write(
                f"{len(behind)} of {len(tenants)} tenant(s) have unapplied migrations."
            )
        self.fail_on_problems(problems, len(tenants))
        if behind:
            sys.exit(1)
        if not as_json:
            self.stdout.write(f"All {len(tenants)} tenant(s) are up to date.")

    def show_plan(self, tenants: list[Tenant], *, as_json: bool) -> None:
        plans = {t.slug: self.pending_or_health(tenant_pending_migrations, t) for t in tenants}
        problems = [plan for plan in plans.values() if isinstance(plan, Health)]
        if as_json:
            entries = {
                slug: {"health": plan.status, "error": plan.reason}
                if isinstance(plan, Health)
                else plan
                for slug, plan in plans.items()
            }
            self.stdout.write(json.dumps(entries, indent=2))
        else:
            for slug, plan in plans.items():
                self.stdout.write(f"{slug}: {self.plan_text(plan)}")
        self.fail_on_problems(problems, len(tenants))

    def plan_text(self, plan: list[str] | Health) -> str:
        if isinstance(plan, Health):
            return self.style.ERROR(str(plan))
        return ", ".join(plan) if plan else "up to date"

    def pending_or_health(self, selector: Callable[..., Any], tenant: Tenant) -> Any:
        """Return what the selector says, or the file's health when it cannot be read."""
        health = file_health(slug=tenant.slug)
        if not health.ok:
            return health
        try:
            return selector(tenant=tenant)
        except (ApplicationError, sqlite3.Error, DatabaseError) as exc:
            return health_from_error(slug=tenant.slug, error=exc)
        finally:
            release_all()

    def fail_on_problems(self, problems: list[Health], total: int) -> None:
        if problems:
            lines = "\n".join(f"  {health.slug}: {health}" for health in problems)
            raise CommandError(f"{len(problems)} of {total} tenant(s) could not be read:\n{lines}")

    # Applying -----------------------------------------------------------------------

    def apply(self, tenants: list[Tenant], options: dict[str, Any]) -> None:
        started = time.perf_counter()
        self.as_json = options["json"]
        self.bar = tqdm(total=len(tenants), unit="tenant") if self.use_bar() else None
        reports = self.run(tenants[: options["canary"]], options["workers"])
        if any(report.outcome == "failed" for report in reports):
            self.finish(reports, started, len(tenants) - len(reports), canary_failed=True)
        reports += self.run(tenants[options["canary"] :], options["workers"])
        if not options["slugs"]:
            reports += self.run_new_tenants({report.slug for report in reports}, options["workers"])
        self.finish(reports, started, 0)

    def run(self, tenants: list[Tenant], workers: int) -> list[TenantReport]:
        return migrate_tenants(tenants, workers=workers, on_report=self.report)

    def run_new_tenants(self, seen: set[str], workers: int) -> list[TenantReport]:
        """Migrate tenants that appeared while the run went on, until none is new."""
        reports: list[TenantReport] = []
        while new := [t for t in tenant_list(statuses=SERVED) if t.slug not in seen]:
            if self.bar is not None:
                self.bar.total += len(new)
            reports += self.run(new, workers)
            seen |= {tenant.slug for tenant in new}
        return reports

    def use_bar(self) -> bool:
        """Show a progress bar (on stderr) only to a person at a terminal."""
        return not self.as_json and sys.stderr.isatty()

    def report(self, report: TenantReport) -> None:
        if self.bar is not None:
            self.bar.update(1)
            if report.outcome == "failed":
                self.bar.write(self.describe(report))
        elif not self.as_json:
            self.stdout.write(self.describe(report))

    def describe(self, report: TenantReport) -> str:
        if report.outcome == "failed":
            return self.style.ERROR(f"{report.slug}: FAILED: {report.error}")
        if report.outcome == "migrated":
            return self.style.SUCCESS(f"{report.slug}: applied {len(report.applied)} migration(s)")
        return f"{report.slug}: up to date"

    def finish(
        self, reports: list[TenantReport], started: float, skipped: int, canary_failed: bool = False
    ) -> None:
        if self.bar is not None:
            self.bar.close()
        failed = [report for report in reports if report.outcome == "failed"]
        summary: dict[str, Any] = {
            "tenants": len(reports),
            "up_to_date": sum(report.outcome == "up to date" for report in reports),
            "migrated": [{"slug": r.slug, "applied": r.applied} for r in reports if r.applied],
            "failed": [{"slug": r.slug, "health": r.health, "error": r.error} for r in failed],
            "not_attempted": skipped,
            "seconds": round(time.perf_counter() - started, 3),
        }
        if self.as_json:
            self.stdout.write(json.dumps(summary))
        else:
            self.stdout.write(
                f"{summary['tenants']} tenant(s): {len(summary['migrated'])} migrated, "
                f"{summary['up_to_date']} up to date, {len(failed)} failed "
                f"in {summary['seconds']} s."
            )
        if canary_failed:
            raise CommandError(
                f"The canary failed ({', '.join(r.slug for r in failed)}); "
                f"{skipped} tenant(s) were not attempted."
            )
        if failed:
            lines = "\n".join(f"  {r.slug}: {r.error}" for r in failed)
            raise CommandError(f"{len(failed)} tenant(s) failed to migrate:\n{lines}")
