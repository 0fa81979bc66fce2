"""Cache keys that belong to the current tenant (CACHES[...]["KEY_FUNCTION"])."""

from __future__ import annotations

from apps.tenancy.routing.context import get_current_tenant

PUBLIC = "-public-"


def make_key(key: str, key_prefix: str, version: int) -> str:
    """Return Django's key with the tenant's slug in it, so tenants never share entries."""
    tenant = get_current_tenant()
    scope = tenant.slug if tenant is not None else PUBLIC
    return f"{key_prefix}:{version}:{scope}:{key}"
