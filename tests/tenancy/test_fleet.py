"""migrate_tenants over many tenants: parallel, atomic per tenant, resumable."""

import json
import sqlite3
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import User
from apps.posts.models import Post
from apps.tenancy.fleet import migrate_all as fleet
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path
from tests.conftest import admin_email

ADD_PINNED = {"posts": "tests.fleet_migrations.add_pinned"}
FAILS_HALFWAY = {"posts": "tests.fleet_migrations.fails_halfway"}


def run(*args: str) -> str:
    out = StringIO()
    call_command("migrate_tenants", *args, stdout=out)
    return out.getvalue()


def schema_of(slug: str) -> list[tuple[str, str]]:
    with sqlite3.connect(database_path(slug)) as raw:
        return raw.execute("SELECT name, sql FROM sqlite_master ORDER BY name").fetchall()


def ledger_of(slug: str) -> set[tuple[str, str]]:
    with sqlite3.connect(database_path(slug)) as raw:
        return set(raw.execute("SELECT app, name FROM django_migrations"))


def has_pinned(slug: str) -> bool:
    with sqlite3.connect(database_path(slug)) as raw:
        columns = [row[1] for row in raw.execute("PRAGMA table_info(posts_post)")]
        indexes = [row[1] for row in raw.execute("PRAGMA index_list(posts_post)")]
    return "pinned" in columns and "posts_pinned_idx" in indexes


def mark_failing(tenant: Tenant) -> None:
    with tenant_context(tenant):
        author = User.objects.get(email=admin_email(tenant.slug))
        Post.objects.create(title="fail-here", body="", author=author)


def test_new_tenants_come_from_a_template_rebuilt_when_migrations_change(
    make_tenant, settings, tmp_path
):
    settings.TENANT_TEMPLATE_DIR = tmp_path / "templates"
    make_tenant("before")
    settings.MIGRATION_MODULES = ADD_PINNED
    make_tenant("after")
    assert not has_pinned("before")
    assert has_pinned("after")
    assert len(list((tmp_path / "templates").glob("*.sqlite3"))) == 2


def test_parallel_workers_apply_a_new_migration_to_every_tenant(make_tenant, settings):
    slugs = [f"tenant-{n:02}" for n in range(30)]
    for slug in slugs:
        make_tenant(slug)
    settings.MIGRATION_MODULES = ADD_PINNED
    summary = json.loads(run("--workers", "2", "--json"))
    assert summary["tenants"] == 30
    assert sorted(m["slug"] for m in summary["migrated"]) == slugs
    assert all(m["applied"] == ["posts.9001_post_pinned"] for m in summary["migrated"])
    assert summary["failed"] == []
    assert all(has_pinned(slug) for slug in slugs)
    again = json.loads(run("--workers", "2", "--json"))
    assert again["up_to_date"] == 30 and again["migrated"] == []


def test_failing_tenant_is_left_exactly_as_before_and_others_go_on(make_tenant, settings):
    make_tenant("good")
    bad = make_tenant("bad")
    mark_failing(bad)
    schema_before, ledger_before = schema_of("bad"), ledger_of("bad")
    settings.MIGRATION_MODULES = FAILS_HALFWAY
    out = StringIO()
    with pytest.raises(CommandError, match=r"1 tenant\(s\) failed to migrate:\n  bad: .*breaks"):
        call_command("migrate_tenants", "--workers", "1", stdout=out)
    assert "good: applied 2 migration(s)" in out.getvalue()
    assert "bad: FAILED: RuntimeError: this tenant's data breaks migration 9002" in out.getvalue()
    # 9001 ran before 9002 failed, in the same transaction: nothing of it remains.
    assert schema_of("bad") == schema_before
    assert ledger_of("bad") == ledger_before
    assert has_pinned("good")
    with tenant_context(bad):
        assert Post.objects.filter(title="fail-here").exists()

    # Fix the data and run again: it continues where it stopped.
    with tenant_context(bad):
        Post.objects.filter(title="fail-here").delete()
    output = run("--workers", "1")
    assert "bad: applied 2 migration(s)" in output
    assert "good: up to date" in output


def test_canary_stops_the_run_when_it_fails(make_tenant, settings):
    mark_failing(make_tenant("aaa"))
    make_tenant("bbb")
    make_tenant("ccc")
    settings.MIGRATION_MODULES = FAILS_HALFWAY
    with pytest.raises(CommandError, match=r"canary failed \(aaa\); 2 tenant\(s\) were not"):
        run("--canary", "1", "--workers", "1")
    assert not has_pinned("bbb") and not has_pinned("ccc")


def test_check_lists_tenants_behind_and_exits_1(make_tenant, settings, capsys):
    make_tenant("acme")
    make_tenant("beta")
    assert "All 2 tenant(s) are up to date." in run("--check")
    settings.MIGRATION_MODULES = ADD_PINNED
    with pytest.raises(SystemExit) as exited:
        run("--check")
    assert exited.value.code == 1
    assert "2 of 2 tenant(s) have unapplied migrations" in capsys.readouterr().err
    assert not has_pinned("acme")


def test_check_json_and_plan(make_tenant, settings):
    make_tenant("acme")
    settings.MIGRATION_MODULES = FAILS_HALFWAY
    plan = run("--plan")
    assert plan.strip() == "acme: posts.9001_post_pinned, posts.9002_fail_if_marked"
    assert json.loads(run("--plan", "--json")) == {
        "acme": ["posts.9001_post_pinned", "posts.9002_fail_if_marked"]
    }
    assert not has_pinned("acme")
    with pytest.raises(SystemExit):
        call_command("migrate_tenants", "--check", "--json", stdout=(out := StringIO()))
    assert json.loads(out.getvalue()) == {"tenants": 1, "pending": {"acme": 2}}


def test_tenants_created_during_the_run_are_migrated_too(make_tenant, settings, monkeypatch):
    make_tenant("first")
    settings.MIGRATION_MODULES = ADD_PINNED
    real_migrate_one = fleet.migrate_one
    created = []

    def migrate_and_sign_up_someone(tenant):
        if not created:
            # Another process, still on the old code, provisions a tenant meanwhile.
            settings.MIGRATION_MODULES = {}
            created.append(make_tenant("latecomer"))
            settings.MIGRATION_MODULES = ADD_PINNED
        return real_migrate_one(tenant)

    monkeypatch.setattr(fleet, "migrate_one", migrate_and_sign_up_someone)
    output = run("--workers", "1")
    assert "latecomer: applied 1 migration(s)" in output
    assert has_pinned("latecomer") and has_pinned("first")


def test_workers_must_be_positive(db):
    with pytest.raises(CommandError, match="--workers must be at least 1"):
        run("--workers", "0")
