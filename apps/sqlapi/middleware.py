"""Answer the SQL API before the web pages' middleware runs (ASGI, Django's test client).

Under WSGI, ``apps.sqlapi.gateway.SqlApiGateway`` answers SQL API calls before Django
sees them; this middleware is the same door for the other ways Django is run. A call
needs none of what a page needs (sessions, CSRF, members, messages, sign-in throttling,
page quotas, security headers for HTML): it carries a bearer token and is answered in
JSON. Listed right after ``SecurityMiddleware`` (so HTTPS redirects and HSTS still
apply), this sends ``POST``s to the SQL endpoints (on a workspace's host, or by path on
any host) straight to ``gateway.serve``. Everything else goes on as usual.
"""

from __future__ import annotations

from collections.abc import Callable

from django.http import HttpRequest, HttpResponseBase

from apps.sqlapi.gateway import endpoint_of, serve
from apps.sqlapi.views import as_response
from apps.tenancy.routing.sqlaccess import slug_of_host


class SqlApiMiddleware:
    """Send SQL API calls to the endpoint directly; pass everything else on."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        found = endpoint_of(request.method or "", request.path_info)
        if found is None:
            return self.get_response(request)
        kind, slug = found
        if slug is None:  # the workspace's own host
            slug = slug_of_host(request.get_host())
            if slug is None:
                return self.get_response(request)
        request.META["quire.tenant"] = slug
        return as_response(serve(kind, slug, request.META, lambda _limit: request.body))
