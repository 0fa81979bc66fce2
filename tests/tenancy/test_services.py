import sqlite3
import threading

import pytest
from django.db import connections

from apps.accounts.models import User
from apps.tenancy.exceptions import InvalidSlug, SlugTaken, TenantDatabaseExists
from apps.tenancy.fleet import services
from apps.tenancy.fleet.selectors import tenant_pending_migrations
from apps.tenancy.fleet.services import tenant_create
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path
from apps.tenancy.routing.work import current_connection
from tests.conftest import PASSWORD


def create(slug: str) -> Tenant:
    return tenant_create(
        slug=slug, name="Acme", admin_email="boss@acme.example", admin_password=PASSWORD
    )


@pytest.mark.django_db
def test_create_makes_an_active_migrated_tenant_with_its_admin():
    tenant = create("acme")
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.ACTIVE
    assert database_path("acme").is_file()
    assert tenant_pending_migrations(tenant=tenant) == []
    with tenant_context(tenant):
        admin = User.objects.get(email="boss@acme.example")
        assert admin.is_superuser and admin.is_staff and admin.check_password(PASSWORD)


@pytest.mark.django_db
def test_tenant_connections_use_wal_foreign_keys_and_immediate_transactions():
    tenant = create("acme")
    with tenant_context(tenant):
        connection = current_connection()
        with connection.cursor() as cursor:
            pragmas = {
                name: cursor.execute(f"PRAGMA {name}").fetchone()[0]
                for name in ("journal_mode", "foreign_keys", "synchronous", "busy_timeout")
            }
    assert pragmas == {
        "journal_mode": "wal",
        "foreign_keys": 1,
        "synchronous": 1,
        "busy_timeout": 5000,
    }
    assert connection.transaction_mode == "IMMEDIATE"


@pytest.mark.parametrize(
    ("slug", "message"),
    [
        ("ab", "between 3 and 63"),
        ("a" * 64, "between 3 and 63"),
        ("-acme", "starting and ending with a letter or digit"),
        ("acme-", "starting and ending with a letter or digit"),
        ("Acme", "lowercase letters"),
        ("ac_me", "lowercase letters"),
        ("ac.me", "lowercase letters"),
        ("ac--me", "two hyphens"),
        ("www", "reserved"),
        ("admin", "reserved"),
        ("catalog", "reserved"),
    ],
)
@pytest.mark.django_db
def test_invalid_slugs_are_refused_with_the_reason(slug, message, tenants_data_dir):
    with pytest.raises(InvalidSlug, match=message):
        create(slug)
    assert not Tenant.objects.exists()
    assert not tenants_data_dir.exists() or not any(tenants_data_dir.iterdir())


@pytest.mark.django_db
def test_taken_slug_is_refused():
    create("acme")
    with pytest.raises(SlugTaken, match="'acme' is already taken"):
        create("acme")


@pytest.mark.django_db
def test_failure_after_file_creation_leaves_nothing_behind(monkeypatch, tenants_data_dir):
    def explode(**kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(services, "_admin_create", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        create("acme")
    assert not Tenant.objects.filter(slug="acme").exists()
    assert list(tenants_data_dir.iterdir()) == []

    monkeypatch.undo()
    assert create("acme").status == Tenant.Status.ACTIVE


@pytest.mark.django_db
def test_existing_orphan_file_is_refused_and_kept(tenants_data_dir):
    tenants_data_dir.mkdir(parents=True)
    orphan = tenants_data_dir / "acme.sqlite3"
    with sqlite3.connect(orphan) as raw:
        raw.execute("CREATE TABLE precious (x)")
    with pytest.raises(TenantDatabaseExists, match="already exists"):
        create("acme")
    assert not Tenant.objects.filter(slug="acme").exists()
    with sqlite3.connect(orphan) as raw:
        assert raw.execute("SELECT name FROM sqlite_master").fetchall() == [("precious",)]


@pytest.mark.django_db(transaction=True)
def test_concurrent_creations_of_one_slug_exactly_one_wins():
    barrier = threading.Barrier(4)
    outcomes: list[str] = []

    def sign_up():
        try:
            barrier.wait()
            create("acme")
            outcomes.append("created")
        except SlugTaken:
            outcomes.append("taken")
        finally:
            connections.close_all()

    threads = [threading.Thread(target=sign_up) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["created", "taken", "taken", "taken"]
    tenant = Tenant.objects.get(slug="acme")
    assert tenant.status == Tenant.Status.ACTIVE
    with tenant_context(tenant):
        assert User.objects.count() == 1
