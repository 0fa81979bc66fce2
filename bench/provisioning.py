"""Provisioning latency with 0, 1,000 and 10,000 tenants already present.

    .venv/bin/python bench/provisioning.py [--levels 0,1000,10000] [--samples 200]

Prints one JSON line per level: p50/p95 of server-side provisioning (claim in the catalog,
copy of the template database, admin user, activation), password hashing excluded.
"""

from __future__ import annotations

import argparse
import shutil
import time

from common import emit, fast_password_hashing, setup_django, summary_ms


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--levels", default="0,1000,10000")
    parser.add_argument("--samples", type=int, default=200)
    args = parser.parse_args()
    work = setup_django("provisioning")
    from apps.tenancy.fleet.services import tenant_create

    def create(slug: str) -> float:
        started = time.perf_counter()
        tenant_create(slug=slug, name=slug, admin_email=f"a@{slug}.example", admin_password="pw")
        return time.perf_counter() - started

    count = 0
    with fast_password_hashing():
        emit(
            {
                "bench": "provisioning",
                "what": "first tenant, template built",
                "ms": round(create("t-first") * 1000, 1),
            }
        )
        count = 1
        for level in [int(value) for value in args.levels.split(",")]:
            fill_started = time.perf_counter()
            while count < level:
                create(f"t-{count}")
                count += 1
            fill_seconds = time.perf_counter() - fill_started
            samples = [create(f"s-{level}-{n}") for n in range(args.samples)]
            count += args.samples
            emit(
                {
                    "bench": "provisioning",
                    "existing_tenants": level,
                    "samples": args.samples,
                    **summary_ms(samples),
                    "fill_seconds": round(fill_seconds, 1),
                }
            )
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
