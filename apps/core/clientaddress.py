"""The client's own address, read through the proxies named in QUIRE_TRUSTED_PROXIES."""

from __future__ import annotations

import ipaddress
from functools import lru_cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def client_address(request: HttpRequest) -> str:
    """Return the address of the client that sent this request.

    Walk X-Forwarded-For from the right, starting at the peer (REMOTE_ADDR), for as long
    as each hop is a trusted proxy: the first untrusted hop is the client. Entries left of
    it were written by the client itself and are never believed.
    """
    hops = _forwarded_for(request)
    address = request.META.get("REMOTE_ADDR", "") or "-"
    while hops and _is_trusted(address):
        address = hops.pop()
    return address


def _forwarded_for(request: HttpRequest) -> list[str]:
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    return [hop.strip() for hop in header.split(",") if hop.strip()]


def _is_trusted(address: str) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in trusted_networks(tuple(settings.QUIRE_TRUSTED_PROXIES)))


@lru_cache(maxsize=8)
def trusted_networks(entries: tuple[str, ...]) -> tuple[Network, ...]:
    """Return QUIRE_TRUSTED_PROXIES as networks (a bare address is a network of one)."""
    try:
        return tuple(ipaddress.ip_network(entry, strict=False) for entry in entries)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"QUIRE_TRUSTED_PROXIES: {exc}. Use IP addresses or networks such as 10.0.0.0/8."
        ) from None
