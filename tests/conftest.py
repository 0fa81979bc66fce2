"""Shared fixtures: a fresh tenants folder per test, tenant factories, no leaked servers."""

from __future__ import annotations

import os
import secrets
import signal
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from django.test import Client

from apps.tenancy.models import Tenant

PASSWORD = "correct-horse-battery-9"

# Every process started during a run inherits this variable with the run's own value, so
# the run can find what it started, even a daemon that left its parent (PostgreSQL) or a
# worker whose master died, and never mistakes another run's servers for its own.
RUN_MARKER = "QUIRE_TEST_RUN"
SERVERS = frozenset({"litestream", "gunicorn", "weed", "nginx", "postgres", "run_jobs"})


@pytest.fixture(scope="session")
def template_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One folder of template databases for the whole run: each is built once."""
    return tmp_path_factory.mktemp("templates")


@pytest.fixture(autouse=True)
def tenants_data_dir(settings, tmp_path: Path, template_dir: Path) -> Path:
    """Point TENANTS_DATA_DIR and MEDIA_ROOT (stored files) at empty folders of this test."""
    settings.TENANTS_DATA_DIR = tmp_path / "tenants"
    settings.MEDIA_ROOT = tmp_path / "tenants" / ".media"
    settings.TENANT_TEMPLATE_DIR = template_dir
    return settings.TENANTS_DATA_DIR


@pytest.fixture(autouse=True)
def fresh_page_cache() -> None:
    """Start every test with no rendered page parts (tenant ids repeat across tests)."""
    from django.core.cache import caches

    caches["pages"].clear()


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_teardown(item: pytest.Item, nextitem: pytest.Item | None) -> None:
    """Forget tenant connections before pytest-django restores the test databases."""
    from apps.tenancy.routing.databases import release_all

    release_all()


def host(slug: str) -> str:
    """Return the Host header of a workspace in the test settings."""
    return f"{slug}.quire.test"


def admin_email(slug: str) -> str:
    return f"admin@{slug}.example"


@pytest.fixture
def make_tenant(db) -> Callable[..., Tenant]:
    """Create a real, migrated tenant with an admin (admin@<slug>.example)."""
    from apps.tenancy.fleet.services import tenant_create

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
    from apps.tenancy.routing.context import tenant_context

    def sign(client: Client, tenant: Tenant, email: str | None = None) -> None:
        with tenant_context(tenant):
            client.force_login(User.objects.get(email=email or admin_email(tenant.slug)))

    return sign


@pytest.fixture
def make_member() -> Callable[..., object]:
    """Add a member (role 'member' unless told) to a tenant; password PASSWORD."""
    from apps.accounts.models import User
    from apps.tenancy.routing.context import tenant_context

    def make(tenant: Tenant, email: str, role: str = "member") -> User:
        with tenant_context(tenant):
            return User.objects.create_user(email=email, password=PASSWORD, role=role)

    return make


@pytest.fixture(scope="session", autouse=True)
def test_run_marker() -> Iterator[bytes]:
    """Tag every process this run starts; at the end, fail if any server still runs."""
    value = f"{os.getpid()}-{secrets.token_hex(8)}"
    os.environ[RUN_MARKER] = value
    marker = f"{RUN_MARKER}={value}".encode()
    yield marker
    del os.environ[RUN_MARKER]
    _fail_on_leaks(marker, before=set(), when="when the test run ended")


@pytest.fixture(autouse=True)
def no_leaked_servers(test_run_marker: bytes) -> Iterator[None]:
    """Fail the test if a server it started (Litestream, gunicorn, ...) outlives it."""
    before = set(_running_servers(test_run_marker))
    yield
    _fail_on_leaks(test_run_marker, before, when="after the test")


def _fail_on_leaks(marker: bytes, before: set[int], when: str) -> None:
    """Kill the servers started since `before` that still run, and fail naming them."""
    deadline = time.monotonic() + 5  # a SIGKILLed group takes a moment to disappear
    leaked = {pid: cmd for pid, cmd in _running_servers(marker).items() if pid not in before}
    while leaked and time.monotonic() < deadline:
        time.sleep(0.1)
        leaked = {pid: cmd for pid, cmd in _running_servers(marker).items() if pid in leaked}
    if not leaked:
        return
    for pid in leaked:
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            continue
    listing = "\n".join(f"  {pid} {cmd}" for pid, cmd in sorted(leaked.items()))
    pytest.fail(f"still running {when} (now killed):\n{listing}", pytrace=False)


def _running_servers(marker: bytes) -> dict[int, str]:
    """Return pid -> command line of this run's live server processes, from /proc."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
            words = (entry / "cmdline").read_bytes().decode(errors="replace").split("\0")
        except OSError:  # gone meanwhile, or not ours to read
            continue
        if state != "Z" and _is_server(words):
            found[int(entry.name)] = " ".join(words).strip()
    return found


def _is_server(words: list[str]) -> bool:
    """Tell whether a command line is one of the servers the tests start."""
    names = {Path(part.rstrip(":")).name for word in words for part in word.split()}
    return not names.isdisjoint(SERVERS)
