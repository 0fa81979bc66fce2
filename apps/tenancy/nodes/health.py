"""Health endpoints for load balancers: /healthz (process up), /readyz (can serve).

They answer before host validation, HTTPS redirects and tenancy, so a probe over plain
HTTP to the machine's address gets its answer.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections
from django.http import HttpRequest, HttpResponseBase, JsonResponse

from apps.tenancy.routing.databases import data_dir


class HealthCheckMiddleware:
    """Answer /healthz and /readyz directly; pass everything else on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        if request.path == "/healthz":
            return JsonResponse({"status": "ok"})
        if request.path == "/readyz":
            problems = readiness_problems()
            body = {"status": "fail" if problems else "ok", "problems": problems}
            return JsonResponse(body, status=503 if problems else 200)
        return self.get_response(request)


def readiness_problems() -> list[str]:
    """Return what keeps this process from serving: catalog, tenants folder."""
    problems = []
    try:
        with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
            cursor.execute("SELECT 1 FROM tenancy_tenant LIMIT 1")
    except DatabaseError as exc:
        problems.append(f"catalog: {exc}")
    folder = data_dir()
    if not folder.is_dir() or not os.access(folder, os.W_OK | os.X_OK):
        problems.append(f"tenants folder not writable: {folder}")
    return problems
