"""Sign up a new workspace."""

from __future__ import annotations

from apps.accounts.models import User
from apps.accounts.services import handoff_token_make, member_set_name
from apps.tenancy.fleet.services import tenant_create
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context


def workspace_signup(
    *, name: str, slug: str, email: str, password: str, admin_name: str = ""
) -> tuple[Tenant, str]:
    """Create a workspace with its admin; return it and a hand-off token for the admin."""
    tenant = tenant_create(slug=slug, name=name, admin_email=email, admin_password=password)
    with tenant_context(tenant):
        admin = User.objects.get(email=email)
        if admin_name.strip():
            first, _, last = admin_name.strip().partition(" ")
            member_set_name(member=admin, first_name=first, last_name=last)
        token = handoff_token_make(user=admin, tenant_slug=tenant.slug)
    return tenant, token
