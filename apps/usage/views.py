from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.accounts.views import admin_required
from apps.tenancy.metering import (
    QUOTA_KINDS,
    QUOTA_NAMES,
    exceeded_quotas,
    next_month_start,
    tenant_plan,
    usage_days,
    usage_month,
)
from apps.tenancy.models import Plan, Tenant
from apps.tenancy.routing.context import require_current_tenant
from apps.usage.chart import bar_chart

CHARTS = (
    ("requests", "Requests"),
    ("rows_read", "Rows read"),
    ("rows_written", "Rows written"),
    ("api_calls", "API calls"),
)


@admin_required
def usage_view(request: HttpRequest) -> HttpResponse:
    """Show the workspace's use over the last 30 days, and this month's against its plan."""
    tenant = require_current_tenant()
    days = usage_days(tenant=tenant, days=30)
    dates = [row["day"] for row in days]
    charts = [
        bar_chart(title=title, days=dates, values=[row[name] for row in days])
        for name, title in CHARTS
    ]
    plan = tenant_plan(tenant=tenant)
    context = {
        "charts": charts,
        "days": list(reversed(days)),
        "quotas": _quotas(tenant, plan),
        "plan": plan,
        "exceeded": exceeded_quotas(tenant),
        "resets_at": next_month_start(),
        "storage_bytes": next(
            (row["storage_bytes"] for row in reversed(days) if row["storage_bytes"] is not None),
            None,
        ),
    }
    return render(request, "usage/usage.html", context)


def _quotas(tenant: Tenant, plan: Plan | None) -> list[dict[str, Any]]:
    """Return this month's use of each quota, with the plan's limit (None: unlimited)."""
    month = usage_month(tenant=tenant)
    rows = []
    for kind in QUOTA_KINDS:
        used = month[kind]
        limit = getattr(plan, f"{kind}_per_month") if plan else None
        percent = min(100, round(100 * used / limit)) if limit else None
        rows.append({"name": QUOTA_NAMES[kind], "used": used, "limit": limit, "percent": percent})
    return rows
