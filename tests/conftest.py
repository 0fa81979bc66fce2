"""Shared fixtures: a fresh tenants folder per test, and tenant factories."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from django.test import Client

from apps.tenancy.models import Tenant

PASSWORD = "correct-horse-battery-9"


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of template databases for the whole run: each is built once."""
    return tmp_path_factory.mktemp("templates")


@pytest.fixture(autouse=True)
def tenants_data_dir(settings, tmp_path: Path, template_dir: Path) -> Path:
    """Point TENANTS_DATA_DIR at an empty folder of this test's own."""
    settings.TENANTS_DATA_DIR = tmp_path / "tenants"
    settings.TENANT_TEMPLATE_DIR = template_dir
    return settings.TENANTS_DATA_DIR


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Forget tenant connections before pytest-django restores the test databases."""
    from apps.tenancy.databases import release_all

    release_all()


def host(slug: str) -> str:
    """Return the Host header of a workspace in the test settings."""
    return f"{slug}.quire.test"


def admin_email(slug: str) -> str:
    return f"admin@{slug}.example"


@pytest.fixture
def make_tenant(db) -> Callable[..., Tenant]:
    """Create a real, migrated tenant with an admin (admin@<slug>.example)."""
    from apps.tenancy.services import tenant_create

    def make(slug: str = "acme", name: str | None = None) -> Tenant:
        return tenant_create(
            slug=slug,
            name=name or slug.title(),
            admin_email=admin_email(slug),
            admin_password=PASSWORD,
        )

    return make


@pytest.fixture
def sign_in() -> Callable[[Client, Tenant], None]:
    """Sign a test client in as the tenant's admin, on that tenant's host."""
    from apps.accounts.models import User
    from apps.tenancy.context import tenant_context

    def sign(client: Client, tenant: Tenant, email: str | None = None) -> None:
        with tenant_context(tenant):
            client.force_login(User.objects.get(email=email or admin_email(tenant.slug)))

    return sign


@pytest.fixture
def make_member() -> Callable[..., object]:
    """Add a member (role 'member' unless told) to a tenant; password PASSWORD."""
    from apps.accounts.models import User
    from apps.tenancy.context import tenant_context

    def make(tenant: Tenant, email: str, role: str = "member") -> User:
        with tenant_context(tenant):
            return User.objects.create_user(email=email, password=PASSWORD, role=role)

    return make
