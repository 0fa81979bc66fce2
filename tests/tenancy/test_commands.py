import json
import sqlite3
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

import apps.posts.migrations as posts_migrations
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path, release_all, tenant_alias


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def unapply_posts_migration(slug: str) -> None:
    """Roll a tenant back by one posts migration, as a tenant left behind would be."""
    tenant = Tenant.objects.get(slug=slug)
    folder = Path(posts_migrations.__file__).parent
    previous = sorted(path.stem for path in folder.glob("[0-9][0-9][0-9][0-9]_*.py"))[-2]
    with tenant_context(tenant):
        call_command(
            "migrate",
            "posts",
            previous,
            database=tenant_alias(slug),
            verbosity=0,
            stdout=StringIO(),
        )
    release_all()


@pytest.mark.django_db
def test_create_tenant_prints_url_and_generated_password():
    output = run("create_tenant", "acme", "--name", "Acme", "--admin-email", "boss@acme.example")
    assert "Created workspace 'acme'" in output
    assert "URL:      http://acme.quire.test/" in output
    assert "Password: " in output
    assert Tenant.objects.get(slug="acme").status == Tenant.Status.ACTIVE


@pytest.mark.django_db
def test_create_tenant_with_bad_slug_is_a_command_error():
    with pytest.raises(CommandError, match="reserved"):
        run("create_tenant", "www", "--name", "W", "--admin-email", "a@b.example")
    with pytest.raises(CommandError, match="already taken"):
        run("create_tenant", "acme", "--name", "A", "--admin-email", "a@b.example")
        run("create_tenant", "acme", "--name", "A", "--admin-email", "a@b.example")


def test_list_tenants_shows_slug_status_and_size(make_tenant):
    make_tenant("acme")
    beta = make_tenant("beta")
    Tenant.objects.filter(pk=beta.pk).update(status=Tenant.Status.SUSPENDED)
    text = run("list_tenants")
    assert "acme" in text and "active" in text and "suspended" in text and "KiB" in text
    rows = json.loads(run("list_tenants", "--json"))
    assert [(r["slug"], r["status"]) for r in rows] == [("acme", "active"), ("beta", "suspended")]
    assert all(r["size_bytes"] > 0 for r in rows)


@pytest.mark.django_db
def test_list_tenants_empty():
    assert "No tenants." in run("list_tenants")


def test_migrate_tenants_applies_pending_and_reports_each_tenant(make_tenant):
    make_tenant("acme")
    make_tenant("beta")
    unapply_posts_migration("beta")
    output = run("migrate_tenants")
    assert "acme: up to date" in output
    assert "beta: applied 1 migration(s)" in output
    with sqlite3.connect(database_path("beta")) as raw:
        assert raw.execute("SELECT count(*) FROM posts_post_fts").fetchone() == (0,)
    assert "beta: up to date" in run("migrate_tenants")


def test_migrate_tenants_reports_failures_and_goes_on(make_tenant):
    make_tenant("acme")
    make_tenant("beta")
    unapply_posts_migration("beta")
    database_path("acme").unlink()
    with pytest.raises(
        CommandError, match=r"1 tenant\(s\) failed to migrate:\n  acme: missing: file not found"
    ):
        run("migrate_tenants")
    with sqlite3.connect(database_path("beta")) as raw:
        assert raw.execute("SELECT count(*) FROM posts_post_fts").fetchone() == (0,)


def test_migrate_tenants_single_tenant_and_unknown_slug(make_tenant):
    make_tenant("acme")
    make_tenant("beta")
    output = run("migrate_tenants", "--tenant", "beta")
    assert output.splitlines()[0] == "beta: up to date"
    assert "acme" not in output
    with pytest.raises(CommandError, match=r"No such workspace \(active or suspended\): nope"):
        run("migrate_tenants", "--tenant", "nope")


@pytest.mark.django_db
def test_plain_migrate_touches_only_the_catalog(tenants_data_dir):
    run("migrate", "--no-input")
    assert not tenants_data_dir.exists() or not any(tenants_data_dir.iterdir())
