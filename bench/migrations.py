"""Fleet migration speed: a no-op over 10,000 tenants, one new migration over 1,000.

    .venv/bin/python bench/migrations.py [--noop-tenants 10000] [--apply-tenants 1000]
                                         [--workers N]

The new migration adds a column and an index to posts (tests/fleet_migrations/add_pinned).
Prints one JSON line per scenario, with the wall time, the time per tenant and the peak
memory of a worker process.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import time
from io import StringIO

from common import emit, fast_password_hashing, setup_django

NEW_MIGRATION = {"posts": "tests.fleet_migrations.add_pinned"}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--noop-tenants", type=int, default=10_000)
    parser.add_argument("--apply-tenants", type=int, default=1_000)
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    work = setup_django("migrations")
    from django.test.utils import override_settings

    create_tenants(args.noop_tenants)
    noop = migrate(args.workers)
    report("no-op (all up to date)", noop, args.noop_tenants, args.workers)

    with override_settings(MIGRATION_MODULES=NEW_MIGRATION):
        applied = migrate(args.workers, only=args.apply_tenants)
    report(
        "apply posts.9001_post_pinned (column + index)", applied, args.apply_tenants, args.workers
    )
    shutil.rmtree(work)


def create_tenants(count: int) -> None:
    from apps.tenancy.fleet.services import tenant_create

    started = time.perf_counter()
    with fast_password_hashing():
        for n in range(count):
            slug = f"t-{n:05}"
            tenant_create(
                slug=slug, name=slug, admin_email=f"a@{slug}.example", admin_password="pw"
            )
    emit(
        {
            "bench": "setup",
            "tenants_created": count,
            "seconds": round(time.perf_counter() - started, 1),
        }
    )


def migrate(workers: int, only: int | None = None) -> dict:
    from django.core.management import call_command

    from apps.tenancy.models import Tenant

    selection = []
    if only is not None:
        for slug in Tenant.objects.order_by("slug").values_list("slug", flat=True)[:only]:
            selection += ["--tenant", slug]
    out = StringIO()
    started = time.perf_counter()
    call_command("migrate_tenants", "--json", "--workers", str(workers), *selection, stdout=out)
    summary = json.loads(out.getvalue())
    summary["wall_seconds"] = time.perf_counter() - started
    return summary


def report(scenario: str, summary: dict, tenants: int, workers: int) -> None:
    assert summary["failed"] == [], summary["failed"]
    worker_peak_kib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    emit(
        {
            "bench": "migrate_tenants",
            "scenario": scenario,
            "tenants": tenants,
            "workers": workers,
            "migrated": len(summary["migrated"]),
            "up_to_date": summary["up_to_date"],
            "seconds": round(summary["wall_seconds"], 2),
            "ms_per_tenant": round(summary["wall_seconds"] * 1000 / tenants, 3),
            "worker_peak_rss_mb": round(worker_peak_kib / 1024, 1),
        }
    )


if __name__ == "__main__":
    main()
