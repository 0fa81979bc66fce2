"""Writes to one workspace while another workspace, or the catalog, is locked.

    .venv/bin/python bench/contention.py [--rounds 5] [--writes 200]

The writes are the product's own (``posts.services.post_create``: a post and two tags in
one unit of work) to workspace "beta", in three conditions taking turns each round:
nothing locked, workspace "acme" locked by another connection's write transaction (a
long write, a backup), and the catalog locked the same way. Prints one JSON line per
condition with the median over rounds of the per-write median and p95 latency, and the
ratio to the unlocked writes; then the cost of the unit of work itself (commit position
and connection check) against Django's bare ``transaction.atomic(using=alias)``.
"""

from __future__ import annotations

import argparse
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from common import emit, fast_password_hashing, percentile, setup_django


@contextmanager
def write_lock(path: Path) -> Iterator[None]:
    """Hold a database's write lock from another connection for the block."""
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    try:
        yield
    finally:
        holder.execute("ROLLBACK")
        holder.close()


def timed(action: Callable[[], object], count: int) -> list[float]:
    seconds = []
    for _ in range(count):
        started = time.perf_counter()
        action()
        seconds.append(time.perf_counter() - started)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--writes", type=int, default=200)
    args = parser.parse_args()
    work_dir = setup_django("contention")
    from django.db import connections, transaction

    from apps.accounts.models import User
    from apps.posts.models import Post
    from apps.posts.services import post_create
    from apps.tenancy.fleet.services import tenant_create
    from apps.tenancy.models import Tenant
    from apps.tenancy.routing.context import tenant_context
    from apps.tenancy.routing.databases import database_path, tenant_alias

    with fast_password_hashing():
        for slug in ("acme", "beta"):
            tenant_create(slug=slug, name=slug, admin_email=f"a@{slug}.example", admin_password="p")
    beta = Tenant.objects.get(slug="beta")
    catalog = Path(connections["default"].settings_dict["NAME"])
    conditions = {
        "nothing locked": None,
        "another workspace locked": database_path("acme"),
        "catalog locked": catalog,
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in conditions}
    with tenant_context(beta):
        author = User.objects.get(email="a@beta.example")

        def write() -> None:
            post_create(author=author, title="t", body="b", tags=["x", "y"])

        for _round in range(args.rounds):
            for name, locked in conditions.items():
                if locked is None:
                    seconds = timed(write, args.writes)
                else:
                    with write_lock(locked):
                        seconds = timed(write, args.writes)
                results[name].append((statistics.median(seconds), percentile(seconds, 0.95)))
        base = statistics.median(p50 for p50, _ in results["nothing locked"])
        for name, rounds in results.items():
            p50 = statistics.median(p50 for p50, _ in rounds)
            p95 = statistics.median(p95 for _, p95 in rounds)
            emit(
                {
                    "bench": "contention",
                    "condition": name,
                    "write_p50_ms": round(p50 * 1000, 3),
                    "write_p95_ms": round(p95 * 1000, 3),
                    "ratio_to_unlocked": round(p50 / base, 3),
                }
            )
        measure_unit_of_work(args, Post, author, transaction, tenant_alias)
    print(f"# work folder: {work_dir}")


def measure_unit_of_work(args, post_model, author, transaction, tenant_alias) -> None:
    """Time one-row transactions through work.atomic and through Django's bare atomic."""
    from apps.tenancy.routing import work

    alias = tenant_alias("beta")

    def through_work() -> None:
        with work.atomic():
            post_model.objects.create(author=author, title="t", body="b")

    def bare() -> None:
        with transaction.atomic(using=alias):
            post_model.objects.create(author=author, title="t", body="b")

    ratios, door, plain = [], [], []
    for _round in range(args.rounds):
        door_p50 = statistics.median(timed(through_work, args.writes))
        plain_p50 = statistics.median(timed(bare, args.writes))
        door.append(door_p50)
        plain.append(plain_p50)
        ratios.append(door_p50 / plain_p50)
    emit(
        {
            "bench": "unit of work",
            "work_atomic_p50_ms": round(statistics.median(door) * 1000, 3),
            "bare_atomic_p50_ms": round(statistics.median(plain) * 1000, 3),
            "ratio": round(statistics.median(ratios), 3),
            "ratio_spread": [round(min(ratios), 3), round(max(ratios), 3)],
        }
    )


if __name__ == "__main__":
    main()
