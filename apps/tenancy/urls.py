"""Build the address of a tenant's workspace."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest
from django.http.request import split_domain_port

DEFAULT_PORTS = {"http": "80", "https": "443"}


def tenant_url(slug: str, path: str = "/", *, request: HttpRequest | None = None) -> str:
    """Return the absolute URL of a path on a tenant's subdomain.

    With a request, its scheme and port are kept (so a sign-up on localhost:8000
    lands on acme.localhost:8000); without one, the QUIRE_URL_* settings decide.
    """
    if request is not None:
        scheme = request.scheme or "http"
        _domain, port = split_domain_port(request.get_host())
    else:
        scheme, port = settings.QUIRE_URL_SCHEME, settings.QUIRE_URL_PORT
    netloc = f"{slug}.{settings.QUIRE_BASE_DOMAIN}"
    if port and port != DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return f"{scheme}://{netloc}{path}"
