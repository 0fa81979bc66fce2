"""System checks for the tenancy settings (no database access)."""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.conf import settings
from django.core.checks import CheckMessage, Error, Warning, register

ROUTER = "apps.tenancy.routing.router.TenantRouter"
MIDDLEWARE = "apps.tenancy.routing.middleware.TenantMiddleware"


@register("tenancy")
def check_tenancy_settings(app_configs: Any = None, **kwargs: Any) -> list[CheckMessage]:
    """Report tenancy settings that would route data to the wrong database."""
    errors: list[CheckMessage] = []
    if ROUTER not in settings.DATABASE_ROUTERS:
        errors.append(Error(f"DATABASE_ROUTERS must include '{ROUTER}'.", id="tenancy.E001"))
    if MIDDLEWARE not in settings.MIDDLEWARE:
        errors.append(Error(f"MIDDLEWARE must include '{MIDDLEWARE}'.", id="tenancy.E002"))
    domain = settings.QUIRE_BASE_DOMAIN
    if not domain or any(char in domain for char in ":/ "):
        errors.append(
            Error(
                f"QUIRE_BASE_DOMAIN is {domain!r}; use a bare domain such as "
                "'localhost' or 'quire.example' (no scheme, port or path).",
                id="tenancy.E003",
            )
        )
    errors.extend(_check_app_lists())
    return errors


def _check_app_lists() -> list[CheckMessage]:
    installed = {config.name for config in apps.get_app_configs()}
    listed = set(settings.TENANT_APPS) | set(settings.SHARED_APPS)
    errors: list[CheckMessage] = [
        Error(f"'{name}' is in TENANT_APPS or SHARED_APPS but not installed.", id="tenancy.E004")
        for name in sorted(listed - installed)
    ]
    for config in apps.get_app_configs():
        if config.name not in listed and list(config.get_models()):
            errors.append(
                Warning(
                    f"'{config.name}' has models but is in neither TENANT_APPS nor "
                    "SHARED_APPS; its tables go to the catalog.",
                    id="tenancy.W001",
                )
            )
    return errors
