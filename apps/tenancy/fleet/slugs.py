"""Which slugs may name a tenant."""

from __future__ import annotations

import re

from django.conf import settings

from apps.tenancy.exceptions import InvalidSlug

SLUG_RE = re.compile(r"[a-z0-9][a-z0-9-]{1,61}[a-z0-9]")


def normalize_slug(value: str) -> str:
    """Return the slug as typed by a person, trimmed and lower-cased."""
    return value.strip().lower()


def validate_slug(slug: str) -> None:
    """Raise InvalidSlug with the reason if this slug cannot name a tenant."""
    if not 3 <= len(slug) <= 63:
        raise InvalidSlug("Use between 3 and 63 characters.")
    if not SLUG_RE.fullmatch(slug):
        raise InvalidSlug(
            "Use only lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit."
        )
    if "--" in slug:
        raise InvalidSlug("Do not use two hyphens in a row.")
    if slug in settings.TENANT_RESERVED_SLUGS:
        raise InvalidSlug(f"'{slug}' is reserved.")
