"""Usage metering and quotas: what each workspace used per day, and what its plan allows.

Counted per workspace per day (UTC): requests served on its host, rows read, rows
written, API calls, and storage bytes (sampled). Rows are counted by the tenant
connection itself (``databases.TenantDatabaseWrapper``), for pages and the SQL API alike:

- rows written: SQLite's own counter, the growth of ``sqlite3_total_changes`` over each
  statement (rows inserted, updated or deleted, those made by triggers included, such as
  the search index; the engine's commit-position row excluded);
- rows read: rows SQLite stepped out of a statement to the application (every row a
  cursor fetched: SELECT results and RETURNING rows). Python's ``sqlite3`` does not expose
  ``sqlite3_stmt_status``, so rows SQLite scanned internally without returning them (a
  ``COUNT(*)``, a filter) are not counted.

Nothing is written to a workspace's own file (replica nodes serve reads from read-only
files): each process adds its counts up in memory and a background thread adds them to
the catalog every ``QUIRE_USAGE_FLUSH_SECONDS``, one upsert per workspace and day, and
at exit. A process killed with SIGKILL loses at most the counts of one interval.

Quotas come from the tenant's ``Plan`` (per calendar month, UTC). ``check_quota`` raises
``QuotaExceeded`` before a unit of work begins; the month's use is what the catalog
held when this process last looked (every ``QUIRE_USAGE_QUOTA_REFRESH_SECONDS``, 60)
plus this process's own counts, flushed or not, so its own use counts at once and other
processes' use within a refresh and a flush interval. (Re-reading per request would cost
a page of a quiet workspace two catalog queries.)
"""

from __future__ import annotations

import atexit
import logging
import os
import threading
import time
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any, cast

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, transaction
from django.db.models import Sum

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.routing.databases import database_files, take_rows
from apps.tenancy.routing.storage import stored_bytes

if TYPE_CHECKING:
    from apps.tenancy.models import Plan, Tenant

logger = logging.getLogger(__name__)

COUNTERS = ("requests", "rows_read", "rows_written", "api_calls")
QUOTA_KINDS = ("rows_read", "rows_written", "api_calls")
QUOTA_NAMES = {"rows_read": "rows read", "rows_written": "rows written", "api_calls": "API calls"}


class QuotaExceeded(ApplicationError):
    """A workspace used up a monthly quota of its plan.

    ``kind`` is ``rows_read``, ``rows_written`` or ``api_calls``; ``limit`` the plan's
    quota, ``used`` the month's use so far, ``resets_at`` the start of next month (UTC).
    ``str()`` says all of that in one sentence for a person.
    """

    def __init__(
        self, *, slug: str, plan: str, kind: str, limit: int, used: int, resets_at: datetime
    ) -> None:
        self.slug, self.plan, self.kind = slug, plan, kind
        self.limit, self.used, self.resets_at = limit, used, resets_at
        super().__init__(
            f"Workspace '{slug}' has used {used:,} of the {limit:,} {QUOTA_NAMES[kind]} "
            f"its plan '{plan}' allows this month; the quota resets on "
            f"{resets_at:%Y-%m-%d %H:%M} UTC."
        )

    @property
    def retry_after(self) -> int:
        """Return the seconds until the quota resets (for a Retry-After header)."""
        return max(1, int((self.resets_at - datetime.now(UTC)).total_seconds()))


def _zero() -> dict[str, int]:
    return dict.fromkeys(COUNTERS, 0)


@dataclass
class _Pending:
    """One workspace's counts not yet flushed, per day."""

    slug: str
    days: dict[date, dict[str, int]] = field(default_factory=dict)
    total: int = 0  # every count of every day added up: no one counter's month is more


@dataclass
class _Quotas:
    """A tenant's plan and the month's use as the catalog said, kept for one interval."""

    month: tuple[int, int]
    plan: str | None
    limits: dict[str, int]
    used: dict[str, int]
    expires: float
    headroom: int = 0  # the least any quota has left of ``used``; set by ``_set_headroom``


_lock = threading.Lock()
_pending: dict[int, _Pending] = {}
_quotas: dict[int, _Quotas] = {}
QUOTAS_KEPT = 4096  # workspaces whose plan and month's use this process keeps (a fleet's busiest)
_plans: dict[str, Any] = {"by_tenant": {}, "expires": 0.0}  # every plan assignment, cached
_flusher: dict[str, Any] = {"pid": None, "thread": None, "stop": None}


# Counting ------------------------------------------------------------------------------

_today: list[Any] = [-1, None]  # [days since 1970, that date (UTC)]: one date object a day


def _utc_today() -> date:
    """Return today's date (UTC), cheaply: the per-request paths ask for it."""
    epoch_day = int(time.time() // 86400)
    if _today[0] != epoch_day:
        _today[:] = [epoch_day, datetime.fromtimestamp(epoch_day * 86400, UTC).date()]
    return cast(date, _today[1])


def count_api_call(tenant: Tenant, calls: int = 1) -> None:
    """Count calls of the SQL API (one per HTTP request to it) for this workspace today."""
    _add(tenant, api_calls=calls)


def count_rows(tenant: Tenant, *, read: int = 0, written: int = 0) -> None:
    """Count rows read and written on a connection the tenant connection does not meter.

    Statements run through the tenant connection (the ORM, ``work.cursor()``) are
    counted by it already; call this only for a plain ``sqlite3`` connection.
    """
    _add(tenant, rows_read=read, rows_written=written)


def count_request(tenant: Tenant) -> None:
    """Count one request served for this workspace, with the rows its connection metered."""
    read, written = take_rows(tenant.slug)
    _add(tenant, requests=1, rows_read=read, rows_written=written)


def _add(tenant: Tenant, **counts: int) -> None:
    today = _utc_today()
    with _lock:
        _ensure_flusher()
        pending = _pending.get(tenant.id)
        if pending is None:
            pending = _pending[tenant.id] = _Pending(tenant.slug)
        day = pending.days.get(today)
        if day is None:
            day = pending.days[today] = _zero()
        for name, value in counts.items():
            day[name] += value
            pending.total += value


def discard_pending() -> None:
    """Forget this process's unflushed counts (tests; a process that must not report)."""
    with _lock:
        _pending.clear()


def pending_counts(tenant: Tenant) -> dict[date, dict[str, int]]:
    """Return this process's counts for a workspace not yet flushed, per day."""
    with _lock:
        pending = _pending.get(tenant.pk)
        return {day: dict(counts) for day, counts in pending.days.items()} if pending else {}


# Flushing ------------------------------------------------------------------------------

UPSERT_SQL = (
    "INSERT INTO tenancy_usageday "
    "(tenant_id, day, requests, rows_read, rows_written, api_calls, storage_bytes) "
    "VALUES (%s, %s, %s, %s, %s, %s, %s) "
    "ON CONFLICT (tenant_id, day) DO UPDATE SET "
    "requests = tenancy_usageday.requests + excluded.requests, "
    "rows_read = tenancy_usageday.rows_read + excluded.rows_read, "
    "rows_written = tenancy_usageday.rows_written + excluded.rows_written, "
    "api_calls = tenancy_usageday.api_calls + excluded.api_calls, "
    "storage_bytes = COALESCE(excluded.storage_bytes, tenancy_usageday.storage_bytes)"
)


def flush() -> int:
    """Add this process's counts to the catalog: one upsert per workspace and day.

    The counts are taken out first; if the catalog refuses them (locked, unreachable),
    they are put back and the next flush tries again, so nothing is counted twice or
    lost while the process lives. Storage is sampled here for each workspace whose file
    is on this node. Return the number of rows written.
    """
    with _lock:
        batch = dict(_pending)
        _pending.clear()
    if not batch:
        return 0
    try:
        rows = _upsert(batch)
    except DatabaseError:
        _put_back(batch)
        raise
    _add_to_quotas(batch)
    return rows


def _upsert(batch: dict[int, _Pending]) -> int:
    from apps.tenancy.models import Tenant

    existing = set(Tenant.objects.filter(pk__in=list(batch)).values_list("pk", flat=True))
    today = datetime.now(UTC).date()
    values = [
        (
            tenant_id,
            day,
            *(counts[name] for name in COUNTERS),
            storage_bytes(pending.slug) if day == today else None,
        )
        for tenant_id, pending in batch.items()
        if tenant_id in existing  # a workspace purged meanwhile: its counts go with it
        for day, counts in pending.days.items()
    ]
    values.sort(key=lambda row: (row[0], row[1]))  # one order for all: no deadlocks
    connection = connections[DEFAULT_DB_ALIAS]
    with transaction.atomic(using=DEFAULT_DB_ALIAS), connection.cursor() as cursor:
        cursor.executemany(UPSERT_SQL, values)
    return len(values)


def _put_back(batch: dict[int, _Pending]) -> None:
    with _lock:
        for tenant_id, pending in batch.items():
            kept = _pending.setdefault(tenant_id, _Pending(pending.slug))
            kept.total += pending.total
            for day, counts in pending.days.items():
                kept_day = kept.days.setdefault(day, _zero())
                for name in COUNTERS:
                    kept_day[name] += counts[name]


def storage_bytes(slug: str) -> int | None:
    """Return the bytes of a workspace's file, its WAL and its stored files on this node.

    None if its file is absent (homed elsewhere: its own node samples it).
    """
    path, wal, _shm = database_files(slug)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return None
    with suppress(FileNotFoundError):
        size += wal.stat().st_size
    return size + stored_bytes(slug)


def _ensure_flusher() -> None:
    """Start this process's flushing thread (again after a fork); called under the lock."""
    if _flusher["pid"] == os.getpid():
        return
    seconds = settings.QUIRE_USAGE_FLUSH_SECONDS
    if not seconds:
        return
    stop = threading.Event()
    thread = threading.Thread(
        target=_flush_every, args=(seconds, stop), name="quire-usage-flush", daemon=True
    )
    _flusher.update(pid=os.getpid(), thread=thread, stop=stop)
    thread.start()


def _flush_every(seconds: float, stop: threading.Event) -> None:
    while not stop.wait(seconds):
        _flush_logged()
    connections.close_all()


def _flush_logged() -> None:
    try:
        flush()
    except Exception:  # the counts are kept for the next try; the thread must go on
        logger.exception("Could not add usage counts to the catalog; will try again")


def _after_fork_in_child() -> None:
    """Forget the parent's counts and thread: they are the parent's to flush."""
    global _lock
    _lock = threading.Lock()
    _pending.clear()
    _quotas.clear()
    _plans.update(by_tenant={}, expires=0.0)
    _flusher.update(pid=None, thread=None, stop=None)


def _at_exit() -> None:
    if _flusher["pid"] == os.getpid():
        _flusher["stop"].set()
        _flush_logged()


os.register_at_fork(after_in_child=_after_fork_in_child)
atexit.register(_at_exit)


# Quotas --------------------------------------------------------------------------------


def check_quota(tenant: Tenant, kind: str) -> None:
    """Raise QuotaExceeded if the workspace used up this monthly quota of its plan.

    ``kind``: ``rows_read``, ``rows_written`` or ``api_calls``. Call it before a unit of
    work begins (never inside one), so a refused request leaves nothing half-written.
    A workspace without a plan, or a quota left empty, is never refused.
    """
    if kind not in QUOTA_KINDS:
        raise ValueError(f"Unknown quota {kind!r}; one of {', '.join(QUOTA_KINDS)}.")
    for exceeded in _exceeded(tenant, (kind,)):
        raise exceeded


def exceeded_quotas(tenant: Tenant) -> list[QuotaExceeded]:
    """Return every monthly quota the workspace has used up (empty if none)."""
    return _exceeded(tenant, QUOTA_KINDS)


def _exceeded(tenant: Tenant, kinds: tuple[str, ...]) -> list[QuotaExceeded]:
    quotas = _quotas_of(tenant)
    if quotas.plan is None or not quotas.limits:
        return []  # the common case, decided from the cache alone
    unflushed = _pending.get(tenant.id)
    if quotas.headroom > (unflushed.total if unflushed is not None else 0):
        return []  # every quota has more left than this process has counted since
    pending = _pending_this_month(tenant)
    return [
        QuotaExceeded(
            slug=tenant.slug,
            plan=quotas.plan,
            kind=kind,
            limit=limit,
            used=used,
            resets_at=next_month_start(),
        )
        for kind in kinds
        if (limit := quotas.limits.get(kind)) is not None
        and (used := quotas.used[kind] + pending[kind]) >= limit
    ]


def next_month_start(now: datetime | None = None) -> datetime:
    """Return the first moment of next month (UTC), when monthly quotas reset."""
    now = now or datetime.now(UTC)
    if now.month == 12:
        return datetime(now.year + 1, 1, 1, tzinfo=UTC)
    return datetime(now.year, now.month + 1, 1, tzinfo=UTC)


def forget_quotas(tenant: Tenant | None = None) -> None:
    """Read plans and the month's use from the catalog again on next check (a plan changed)."""
    with _lock:
        _plans["expires"] = 0.0
        if tenant is None:
            _quotas.clear()
        else:
            _quotas.pop(tenant.pk, None)


def _quotas_of(tenant: Tenant) -> _Quotas:
    today = _utc_today()
    month = (today.year, today.month)
    quotas = _quotas.get(tenant.id)
    if quotas is None or quotas.month != month or quotas.expires < time.monotonic():
        quotas = _read_quotas(tenant, month)
        with _lock:
            _quotas.pop(tenant.id, None)
            _quotas[tenant.id] = quotas
            while len(_quotas) > QUOTAS_KEPT:  # the longest kept go first: read again if asked
                del _quotas[next(iter(_quotas))]
    return quotas


def _read_quotas(tenant: Tenant, month: tuple[int, int]) -> _Quotas:
    from apps.tenancy.models import UsageDay

    expires = time.monotonic() + _interval()
    plan = _plans_by_tenant().get(tenant.pk)
    if plan is None:
        return _Quotas(month, None, {}, dict.fromkeys(QUOTA_KINDS, 0), expires)
    name, limits = plan
    sums = UsageDay.objects.filter(
        tenant_id=tenant.pk, day__gte=date(month[0], month[1], 1)
    ).aggregate(**{kind: Sum(kind) for kind in QUOTA_KINDS})
    used = {kind: int(sums[kind] or 0) for kind in QUOTA_KINDS}
    return _set_headroom(_Quotas(month, name, limits, used, expires))


def _set_headroom(quotas: _Quotas) -> _Quotas:
    """Note the least any quota has left: until the counts pass it, none is used up."""
    quotas.headroom = min(
        (limit - quotas.used[kind] for kind, limit in quotas.limits.items()), default=0
    )
    return quotas


def _plans_by_tenant() -> dict[int, tuple[str, dict[str, int]]]:
    """Return every workspace's plan name and quotas, read in one query once per interval."""
    from apps.tenancy.models import TenantPlan

    if _plans["expires"] < time.monotonic():
        found = {}
        for choice in TenantPlan.objects.select_related("plan"):
            limits = {
                kind: value
                for kind in QUOTA_KINDS
                if (value := getattr(choice.plan, f"{kind}_per_month")) is not None
            }
            found[choice.tenant_id] = (choice.plan.name, limits)
        _plans.update(by_tenant=found, expires=time.monotonic() + _interval())
    return cast(dict[int, tuple[str, dict[str, int]]], _plans["by_tenant"])


def _interval() -> float:
    return float(settings.QUIRE_USAGE_QUOTA_REFRESH_SECONDS)


def _pending_this_month(tenant: Tenant) -> dict[str, int]:
    today = _utc_today()
    total = _zero()
    with _lock:
        pending = _pending.get(tenant.id)
        for day, counts in pending.days.items() if pending else ():
            if (day.year, day.month) == (today.year, today.month):
                for name in COUNTERS:
                    total[name] += counts[name]
    return total


def _add_to_quotas(batch: dict[int, _Pending]) -> None:
    """Move flushed counts into the cached month totals, so they stay counted until reread."""
    with _lock:
        for tenant_id, pending in batch.items():
            quotas = _quotas.get(tenant_id)
            for day, counts in pending.days.items():
                if quotas is not None and quotas.month == (day.year, day.month):
                    for kind in QUOTA_KINDS:
                        quotas.used[kind] += counts[kind]
                    _set_headroom(quotas)


# Plans and reports ---------------------------------------------------------------------


class PlanError(ApplicationError):
    """A plan cannot be defined or assigned as asked (unknown name, negative quota)."""


def plan_define(
    *,
    name: str,
    rows_read: int | None = None,
    rows_written: int | None = None,
    api_calls: int | None = None,
) -> Plan:
    """Create or change a plan's monthly quotas (None: unlimited); every process sees it soon."""
    from apps.tenancy.models import Plan

    for value in (rows_read, rows_written, api_calls):
        if value is not None and value < 0:
            raise PlanError(f"A quota is a number of 0 or more, not {value}.")
    plan, _created = Plan.objects.update_or_create(
        name=name,
        defaults={
            "rows_read_per_month": rows_read,
            "rows_written_per_month": rows_written,
            "api_calls_per_month": api_calls,
        },
    )
    forget_quotas()
    return plan


def tenant_set_plan(*, tenant: Tenant, plan_name: str | None) -> None:
    """Put a workspace on a plan by name, or on none (no quotas)."""
    from apps.tenancy.models import Plan, TenantPlan

    if plan_name is None:
        TenantPlan.objects.filter(tenant_id=tenant.pk).delete()
    else:
        plan = Plan.objects.filter(name=plan_name).first()
        if plan is None:
            known = ", ".join(Plan.objects.values_list("name", flat=True)) or "none defined"
            raise PlanError(f"No plan named '{plan_name}' (plans: {known}).")
        TenantPlan.objects.update_or_create(tenant_id=tenant.pk, defaults={"plan": plan})
    forget_quotas(tenant)


def tenant_plan(*, tenant: Tenant) -> Plan | None:
    """Return the workspace's plan, or None (no quotas)."""
    from apps.tenancy.models import TenantPlan

    choice = TenantPlan.objects.select_related("plan").filter(tenant_id=tenant.pk).first()
    return choice.plan if choice else None


def usage_days(*, tenant: Tenant, days: int = 30) -> list[dict[str, Any]]:
    """Return the last ``days`` days of a workspace's usage, oldest first, today included.

    Each day: ``day`` and every counter (0 when nothing was counted), ``storage_bytes``
    (None when not sampled that day). This process's counts not yet flushed are added.
    """
    from apps.tenancy.models import UsageDay

    today = datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    found = {
        row["day"]: row
        for row in UsageDay.objects.filter(tenant_id=tenant.pk, day__gte=first).values(
            "day", *COUNTERS, "storage_bytes"
        )
    }
    for day, counts in pending_counts(tenant).items():
        row = found.setdefault(day, {"day": day, **_zero(), "storage_bytes": None})
        for name in COUNTERS:
            row[name] += counts[name]
    return [
        found.get(day, {"day": day, **_zero(), "storage_bytes": None})
        for day in (first + timedelta(days=offset) for offset in range(days))
    ]


def usage_month(*, tenant: Tenant) -> dict[str, int]:
    """Return a workspace's counts this calendar month (UTC), this process's unflushed included."""
    from apps.tenancy.models import UsageDay

    first = datetime.now(UTC).date().replace(day=1)
    sums = UsageDay.objects.filter(tenant_id=tenant.pk, day__gte=first).aggregate(
        **{name: Sum(name) for name in COUNTERS}
    )
    month = {name: int(sums[name] or 0) for name in COUNTERS}
    for day, counts in pending_counts(tenant).items():
        if day >= first:
            for name in COUNTERS:
                month[name] += counts[name]
    return month


def usage_summaries(*, tenant_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Return, per workspace, today's and this month's counts, its plan and its quotas."""
    from apps.tenancy.models import TenantPlan, UsageDay

    today = datetime.now(UTC).date()
    month_rows = (
        UsageDay.objects.filter(tenant_id__in=tenant_ids, day__gte=today.replace(day=1))
        .values("tenant_id")
        .annotate(**{name: Sum(name) for name in COUNTERS})
    )
    today_rows = UsageDay.objects.filter(tenant_id__in=tenant_ids, day=today).values(
        "tenant_id", *COUNTERS
    )
    summaries: dict[int, dict[str, Any]] = {
        tenant_id: {"today": _zero(), "month": _zero(), "plan": None, "quotas": {}}
        for tenant_id in tenant_ids
    }
    for row in month_rows:
        summaries[row["tenant_id"]]["month"] = {name: int(row[name] or 0) for name in COUNTERS}
    for row in today_rows:
        summaries[row["tenant_id"]]["today"] = {name: row[name] for name in COUNTERS}
    for choice in TenantPlan.objects.select_related("plan").filter(tenant_id__in=tenant_ids):
        summaries[choice.tenant_id]["plan"] = choice.plan.name
        summaries[choice.tenant_id]["quotas"] = {
            kind: getattr(choice.plan, f"{kind}_per_month") for kind in QUOTA_KINDS
        }
    return summaries
