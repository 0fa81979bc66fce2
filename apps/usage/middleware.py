"""Quotas in the web app: writes refused before they begin, and a notice on every page."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from apps.tenancy.metering import QuotaExceeded, check_quota, exceeded_quotas

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# The web app's own pages (other namespaces, such as the SQL API, answer quotas themselves).
WEB_NAMESPACES = frozenset({"posts", "accounts", "workspace", "usage", "admin"})
# Signing in and out and passwords keep working over quota: nobody is locked out.
ALWAYS_ALLOWED = frozenset(
    {
        "accounts:login",
        "accounts:logout",
        "accounts:password_reset",
        "accounts:password_reset_confirm",
        "accounts:password_change",
        "admin:login",
        "admin:logout",
    }
)


class QuotaMiddleware:
    """Answer a write to a workspace over its rows-written quota with a 429 page.

    The check runs before the view, so the refused request begins no unit of work:
    nothing is half-written. Reads go on (with a notice): a team is never locked out of
    its own posts; the read and API quotas bound the SQL API.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        return self.get_response(request)

    def process_view(
        self, request: HttpRequest, view: Callable[..., Any], args: Any, kwargs: Any
    ) -> HttpResponse | None:
        tenant = getattr(request, "tenant", None)
        match = request.resolver_match
        if tenant is None or request.method in SAFE_METHODS or match is None:
            return None
        if match.view_name in ALWAYS_ALLOWED or not WEB_NAMESPACES & set(match.namespaces):
            return None
        try:
            check_quota(tenant, "rows_written")
        except QuotaExceeded as exc:
            return quota_page(request, exc)
        return None


def quota_page(request: HttpRequest, exc: QuotaExceeded) -> HttpResponse:
    """Render the "quota used up" page: 429, Retry-After until the quota resets."""
    response = render(
        request, "usage/quota_exceeded.html", {"quota": exc, "quota_notices": []}, status=429
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


def quota_notice(request: HttpRequest) -> dict[str, Any]:
    """Context processor: the quotas the workspace has used up, looked up only if shown.

    Lazy (the template calls it), so pages that do not show it, such as the "workspace
    unavailable" pages, never look; the template shows it to signed-in members only.
    """
    tenant = getattr(request, "tenant", None)
    if tenant is None:
        return {"quota_notices": ()}
    return {"quota_notices": lambda: exceeded_quotas(tenant)}
