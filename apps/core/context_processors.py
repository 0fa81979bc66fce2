"""Template context every page may need."""

from __future__ import annotations

from django.conf import settings
from django.http import HttpRequest

from apps.tenancy.routing.urls import public_url


def support(request: HttpRequest) -> dict[str, str]:
    """Return the support address (QUIRE_SUPPORT_EMAIL, may be empty) and the main site."""
    return {"support_email": settings.QUIRE_SUPPORT_EMAIL, "main_site_url": public_url("/")}
