"""Answer the SQL API before the web pages' middleware runs.

A call of the SQL endpoint needs none of what a page needs (sessions, CSRF, members,
messages, sign-in throttling, page quotas, security headers for HTML): it carries a
bearer token and is answered in JSON. Listed right after ``SecurityMiddleware`` (so HTTPS
redirects and HSTS still apply), this sends ``POST``s to the SQL endpoints (on a
workspace's host, or by path on any host) straight to their views, which find the
workspace, check the token and the quotas themselves. Everything else goes on as usual.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from apps.sqlapi import views
from apps.tenancy.routing.sqlaccess import slug_of_host

ENDPOINTS: dict[str, Callable[..., HttpResponseBase]] = {
    "v2/pipeline": views.pipeline,
    "v3/pipeline": views.pipeline,
    "v3/cursor": views.cursor,
    "v1/execute": views.v1_execute,
    "v1/batch": views.v1_batch,
}
PATH = re.compile(r"/(?:db/(?P<slug>[-a-zA-Z0-9_]+)/)?(?P<endpoint>v[123]/[a-z]+)")


class SqlApiMiddleware:
    """Send SQL API calls to their views directly; pass everything else on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        found = PATH.fullmatch(request.path_info) if request.method == "POST" else None
        view = ENDPOINTS.get(found["endpoint"]) if found else None
        if found is None or view is None:
            return self.get_response(request)
        slug = found["slug"]
        if slug is None:  # the workspace's own host
            slug = slug_of_host(request.get_host())
            if slug is None:
                return self.get_response(request)
        return view(request, slug=slug)
