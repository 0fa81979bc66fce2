"""Migrate many tenants at once: worker processes, isolated failures, a report per tenant.

Each worker process takes tenants in chunks. A tenant already up to date costs one
ledger query; one that is behind is migrated in a single transaction, so a failure
leaves it exactly as it was. Workers are replaced after a fixed number of chunks, which
keeps memory flat over thousands of tenants. Workers are forked: nothing is imported
twice, and the parent holds no open tenant connection while they start.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from django.db import DatabaseError, connections

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.fleet.doctor import OK, file_health, health_from_error
from apps.tenancy.fleet.services import tenant_migrate
from apps.tenancy.models import Tenant
from apps.tenancy.routing.databases import release_all

CHUNK_SIZE = 20
CHUNKS_PER_WORKER = 25  # a worker is replaced after 500 tenants


@dataclass
class TenantReport:
    """What happened to one tenant."""

    slug: str
    outcome: str  # "up to date", "migrated" or "failed"
    applied: list[str] = field(default_factory=list)
    error: str = ""
    seconds: float = 0.0
    health: str = OK  # a failed tenant's file: "damaged", "missing", "unreadable" or "failed"

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def migrate_tenants(
    tenants: Sequence[Tenant],
    *,
    workers: int,
    on_report: Callable[[TenantReport], None] = lambda report: None,
) -> list[TenantReport]:
    """Migrate these tenants with up to ``workers`` processes; report each as it ends."""
    reports = []
    for report in _run(list(tenants), workers):
        on_report(report)
        reports.append(report)
    return reports


def migrate_one(tenant: Tenant) -> TenantReport:
    """Migrate one tenant and describe the outcome; never raise for that tenant's failure.

    A missing, empty or damaged file is reported as such, with SQLite's reason: an empty
    file would otherwise be migrated into a blank workspace.
    """
    started = time.perf_counter()
    health = file_health(slug=tenant.slug)
    if not health.ok:
        return _failed(tenant, health.status, str(health), started)
    try:
        applied = tenant_migrate(tenant=tenant)
    except (ApplicationError, sqlite3.Error, DatabaseError) as exc:
        health = health_from_error(slug=tenant.slug, error=exc)
        error = str(health) if health.is_damage else str(exc)
        return _failed(tenant, health.status, error, started)
    finally:
        release_all()
    outcome = "migrated" if applied else "up to date"
    return TenantReport(tenant.slug, outcome, applied=applied, seconds=_since(started))


def _run(tenants: list[Tenant], workers: int) -> Iterator[TenantReport]:
    if workers <= 1 or len(tenants) <= CHUNK_SIZE:
        for tenant in tenants:
            yield migrate_one(tenant)
        return
    _close_parent_connections()
    chunks = [tenants[i : i + CHUNK_SIZE] for i in range(0, len(tenants), CHUNK_SIZE)]
    context = multiprocessing.get_context("fork")
    with context.Pool(processes=workers, maxtasksperchild=CHUNKS_PER_WORKER) as pool:
        for chunk_reports in pool.imap_unordered(_migrate_chunk, chunks):
            yield from chunk_reports


def _migrate_chunk(tenants: list[Tenant]) -> list[TenantReport]:
    return [migrate_one(tenant) for tenant in tenants]


def _close_parent_connections() -> None:
    """Close what the parent has open, so no SQLite handle is shared with a forked child."""
    release_all()
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


def _failed(tenant: Tenant, health: str, error: str, started: float) -> TenantReport:
    return TenantReport(tenant.slug, "failed", error=error, seconds=_since(started), health=health)


def _since(started: float) -> float:
    return round(time.perf_counter() - started, 6)
