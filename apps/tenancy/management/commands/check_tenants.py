from __future__ import annotations

import json
import sys
from collections import Counter
from typing import Any

from django.core.management.base import CommandError, CommandParser
from tqdm import tqdm

from apps.tenancy.fleet.doctor import Health, tenant_health
from apps.tenancy.management.base import TenantCommand, served_tenants


class Command(TenantCommand):
    help = (
        "Check the database file of every workspace (active and suspended), or of those "
        "named, with SQLite's PRAGMA quick_check (--full: integrity_check, which also "
        "compares every index with its table). Files are opened read-only. Reports each as "
        "ok, damaged (with SQLite's reason), missing or unreadable; exits 1 if any is not ok."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slugs", nargs="*", metavar="SLUG", help="Only these workspaces.")
        parser.add_argument(
            "--full", action="store_true", help="Run integrity_check (slower, more thorough)."
        )
        parser.add_argument("--json", action="store_true", help="Print a JSON report only.")

    def handle(self, *args: Any, **options: Any) -> None:
        tenants = served_tenants(options["slugs"])
        as_json, full = options["json"], options["full"]
        bar = self.progress_bar(len(tenants), quiet=as_json)
        results = []
        for tenant in tenants:
            health = tenant_health(tenant=tenant, full=full)
            results.append(health)
            self.show(health, bar, quiet=as_json)
        if bar is not None:
            bar.close()
        self.finish(results, full=full, as_json=as_json)

    def progress_bar(self, total: int, *, quiet: bool) -> tqdm | None:
        """Return a progress bar (on stderr) for a person at a terminal, else None."""
        if quiet or not self.stdout.isatty():
            return None
        return tqdm(total=total, unit="workspace", file=sys.stderr)

    def show(self, health: Health, bar: tqdm | None, *, quiet: bool) -> None:
        """Write one result: every one to a pipe, only problems above a progress bar."""
        if bar is not None:
            bar.update(1)
            if not health.ok:
                bar.write(self.line(health))
        elif not quiet:
            self.stdout.write(self.line(health))

    def line(self, health: Health) -> str:
        text = f"{health.slug}: {health}"
        return text if health.ok else self.style.ERROR(text)

    def finish(self, results: list[Health], *, full: bool, as_json: bool) -> None:
        check = "integrity_check" if full else "quick_check"
        counts = Counter(health.status for health in results)
        if as_json:
            report = {
                "check": check,
                "tenants": [health.as_dict() for health in results],
                "counts": dict(sorted(counts.items())),
            }
            self.stdout.write(json.dumps(report, indent=2))
        else:
            tally = ", ".join(f"{n} {status}" for status, n in sorted(counts.items()))
            self.stdout.write(f"{len(results)} workspace(s) checked with {check}: {tally or '-'}.")
        bad = [health for health in results if not health.ok]
        if bad:
            names = ", ".join(f"{health.slug} ({health.status})" for health in bad)
            raise CommandError(f"{len(bad)} of {len(results)} workspace(s) are not ok: {names}")
