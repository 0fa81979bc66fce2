"""System checks on the web plumbing's settings (no database access)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.checks import CheckMessage, Error, register
from django.core.exceptions import ImproperlyConfigured

from apps.core.clientaddress import trusted_networks


@register()
def check_trusted_proxies(**kwargs: Any) -> list[CheckMessage]:
    """Refuse to start when QUIRE_TRUSTED_PROXIES holds something that is not an address."""
    try:
        trusted_networks(tuple(settings.QUIRE_TRUSTED_PROXIES))
    except ImproperlyConfigured as exc:
        return [Error(str(exc), id="core.E001")]
    return []
