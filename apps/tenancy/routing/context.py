"""The current tenant, modelled on ``django.utils.timezone``.

The value lives in a ContextVar, so every thread and every asyncio task sees its own
tenant, and a task started inside ``tenant_context`` inherits it. Entering a tenant's
context checks that this thread's connection to it is still on the file at its path.
"""

from __future__ import annotations

from contextlib import ContextDecorator
from contextvars import ContextVar, Token
from typing import TYPE_CHECKING, Any

from apps.tenancy.exceptions import NoActiveTenant
from apps.tenancy.routing.databases import refresh

if TYPE_CHECKING:
    from apps.tenancy.models import Tenant

_current_tenant: ContextVar[Tenant | None] = ContextVar("quire_tenant", default=None)


def activate(tenant: Tenant) -> None:
    """Make this tenant the current one."""
    _current_tenant.set(tenant)


def deactivate() -> None:
    """Leave no tenant active."""
    _current_tenant.set(None)


def get_current_tenant() -> Tenant | None:
    """Return the active tenant, or None."""
    return _current_tenant.get()


def require_current_tenant() -> Tenant:
    """Return the active tenant; raise NoActiveTenant when there is none."""
    tenant = _current_tenant.get()
    if tenant is None:
        raise NoActiveTenant("No tenant is active.")
    return tenant


class tenant_context(ContextDecorator):
    """Activate a tenant (or None) for a block, then restore the previous one."""

    def __init__(self, tenant: Tenant | None) -> None:
        self.tenant = tenant
        self._tokens: list[Token[Tenant | None]] = []

    def _recreate_cm(self) -> tenant_context:
        # A fresh instance per decorated call keeps concurrent calls apart.
        return type(self)(self.tenant)

    def __enter__(self) -> Tenant | None:
        if self.tenant is not None:
            refresh(self.tenant.slug)
        self._tokens.append(_current_tenant.set(self.tenant))
        return self.tenant

    def __exit__(self, *exc_info: Any) -> None:
        _current_tenant.reset(self._tokens.pop())
