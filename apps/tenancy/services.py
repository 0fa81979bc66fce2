"""Create and migrate tenants."""

from __future__ import annotations

from io import StringIO

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import DEFAULT_DB_ALIAS, IntegrityError, transaction

from apps.tenancy.context import tenant_context
from apps.tenancy.databases import create_database_file, delete_database_files, tenant_alias
from apps.tenancy.exceptions import MigrationFailed, SlugTaken
from apps.tenancy.models import Tenant
from apps.tenancy.selectors import tenant_pending_migrations
from apps.tenancy.slugs import validate_slug


def tenant_create(*, slug: str, name: str, admin_email: str, admin_password: str) -> Tenant:
    """Create an active tenant with a migrated database and an admin user.

    All or nothing: if any step fails, the catalog row and the database file are
    removed and the slug can be claimed again.
    """
    validate_slug(slug)
    tenant = _tenant_claim(slug=slug, name=name)
    file_created = False
    try:
        create_database_file(slug)
        file_created = True
        tenant_migrate(tenant=tenant)
        with tenant_context(tenant):
            _admin_create(email=admin_email, password=admin_password)
        _status_set(tenant=tenant, status=Tenant.Status.ACTIVE)
    except BaseException:
        _tenant_discard(tenant=tenant, delete_files=file_created)
        raise
    return tenant


def tenant_migrate(*, tenant: Tenant) -> list[str]:
    """Apply the tenant's pending migrations; return the names of those applied."""
    pending = tenant_pending_migrations(tenant=tenant)
    if not pending:
        return []
    try:
        with tenant_context(tenant):
            call_command(
                "migrate",
                database=tenant_alias(tenant.slug),
                interactive=False,
                verbosity=0,
                stdout=StringIO(),
            )
    except Exception as exc:
        raise MigrationFailed(f"Migrating '{tenant.slug}' failed: {exc}") from exc
    return pending


def _tenant_claim(*, slug: str, name: str) -> Tenant:
    try:
        with transaction.atomic(using=DEFAULT_DB_ALIAS):
            return Tenant.objects.create(slug=slug, name=name, status=Tenant.Status.PROVISIONING)
    except IntegrityError:
        raise SlugTaken(f"The subdomain '{slug}' is already taken.") from None


def _admin_create(*, email: str, password: str) -> None:
    user_model = get_user_model()
    fields = {"email": email, user_model.USERNAME_FIELD: email}
    user_model._default_manager.create_superuser(**fields, password=password)


def _status_set(*, tenant: Tenant, status: str) -> None:
    tenant.status = status
    tenant.save(update_fields=["status", "updated_at"])


def _tenant_discard(*, tenant: Tenant, delete_files: bool) -> None:
    if delete_files:
        delete_database_files(tenant.slug)
    Tenant.objects.filter(pk=tenant.pk).delete()
