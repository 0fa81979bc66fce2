"""Build the address of a tenant's workspace."""

from __future__ import annotations

from django.conf import settings

DEFAULT_PORTS = {"http": "80", "https": "443"}


def tenant_url(slug: str, path: str = "/") -> str:
    """Return the absolute URL of a path on a tenant's subdomain.

    Scheme, base domain and port come from the QUIRE_URL_* settings and never from a
    request: a Host header is the client's to choose, and links in e-mails must not be.
    """
    scheme, port = settings.QUIRE_URL_SCHEME, str(settings.QUIRE_URL_PORT)
    netloc = f"{slug}.{settings.QUIRE_BASE_DOMAIN}"
    if port and port != DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return f"{scheme}://{netloc}{path}"


def public_url(path: str = "/") -> str:
    """Return the absolute URL of a path on the main site (the apex domain)."""
    scheme, port = settings.QUIRE_URL_SCHEME, str(settings.QUIRE_URL_PORT)
    netloc = settings.QUIRE_BASE_DOMAIN
    if port and port != DEFAULT_PORTS.get(scheme):
        netloc += f":{port}"
    return f"{scheme}://{netloc}{path}"
