"""Reads about database tokens and the address of a workspace's database."""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Sum
from django.utils import timezone

from apps.sqlapi.models import DatabaseToken, RefusedTokenAttempt
from apps.tenancy.models import Tenant
from apps.tenancy.routing.urls import public_url, tenant_url


def database_url(slug: str) -> str:
    """Return the URL of a workspace's database on its own host (ends in '/')."""
    return tenant_url(slug, "/")


def database_path_url(slug: str) -> str:
    """Return the URL of a workspace's database on the base domain: /db/<slug>/."""
    return public_url(f"/db/{slug}/")


def token_list(*, tenant: Tenant) -> list[DatabaseToken]:
    """Return a workspace's live tokens (not revoked), newest first."""
    return list(
        DatabaseToken.objects.filter(tenant=tenant, revoked_at=None).order_by("-created_at")
    )


def refused_attempts(*, tenant: Tenant, days: int = 30) -> int:
    """Return how many requests with a bad token the workspace refused lately."""
    since = timezone.now().date() - timedelta(days=days)
    total = RefusedTokenAttempt.objects.filter(tenant=tenant, day__gte=since).aggregate(
        total=Sum("count")
    )["total"]
    return int(total or 0)
