"""Map a request's host to a tenant slug."""

from __future__ import annotations

from django.core.exceptions import DisallowedHost
from django.http.request import split_domain_port

PUBLIC_SUBDOMAINS = frozenset({"www"})


def slug_from_host(host: str, base_domain: str) -> str | None:
    """Return the tenant slug named by a host, or None for the public site.

    Ports, letter case and a trailing dot are ignored. A host outside the base domain
    raises DisallowedHost, which Django answers with 400.
    """
    domain, _port = split_domain_port(host)
    base = base_domain.lower().rstrip(".")
    if domain == base:
        return None
    if not domain.endswith("." + base):
        raise DisallowedHost(f"Host {host!r} is not {base!r} nor one of its subdomains.")
    subdomain = domain[: -len(base) - 1]
    if subdomain in PUBLIC_SUBDOMAINS:
        return None
    return subdomain
