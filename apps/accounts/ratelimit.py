"""Slow down password guessing: failed sign-ins counted per workspace and client address."""

from __future__ import annotations

from django.conf import settings
from django.core.cache import cache
from django.http import HttpRequest


def _key(request: HttpRequest) -> str:
    # The cache key function adds the tenant, so each workspace counts on its own.
    return f"login-failures:{request.META.get('REMOTE_ADDR', '-')}"


def login_blocked(request: HttpRequest) -> bool:
    """Return True once this address failed too often in this workspace lately."""
    return int(cache.get(_key(request), 0)) >= settings.QUIRE_LOGIN_ATTEMPTS


def login_failed(request: HttpRequest) -> None:
    """Count a failed sign-in from this address."""
    key = _key(request)
    if cache.add(key, 1, timeout=settings.QUIRE_LOGIN_WINDOW_SECONDS):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, timeout=settings.QUIRE_LOGIN_WINDOW_SECONDS)


def login_succeeded(request: HttpRequest) -> None:
    cache.delete(_key(request))
