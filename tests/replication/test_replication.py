"""Replication to a real S3-compatible server, restores and point-in-time recovery."""

from __future__ import annotations

import sqlite3
import time
from datetime import UTC, datetime
from io import StringIO

import pytest
import yaml
from django.core.management import CommandError, call_command

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.services import post_create
from apps.tenancy.models import Tenant
from apps.tenancy.nodes.replication import litestream_env, replication_position, sync_now
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_path
from tests.conftest import admin_email

pytestmark = pytest.mark.django_db(transaction=True)


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def write_posts(tenant: Tenant, count: int, prefix: str) -> None:
    with tenant_context(tenant):
        author = User.objects.get(email=admin_email(tenant.slug))
        for n in range(count):
            post_create(author=author, title=f"{prefix}-{n}", body="x")


def post_count(path) -> int:
    with sqlite3.connect(path) as raw:
        return raw.execute("SELECT count(*) FROM posts_post").fetchone()[0]


def wait_replicated(slug: str, after: int | None = None, timeout: float = 15) -> int:
    """Wait until the replica holds a transaction newer than `after`; return its id."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        position = replication_position(slug=slug)
        if position.replica_txid and (after is None or position.replica_txid > after):
            return position.replica_txid
        time.sleep(0.2)
    raise AssertionError(f"'{slug}' was not replicated within {timeout} s: {position}")


def test_config_is_built_from_settings(s3_replica, tenants_data_dir, monkeypatch):
    monkeypatch.setenv("AWS_CA_BUNDLE", "/etc/ssl/certs/ca-certificates.crt")
    config = yaml.safe_load(run("litestream_config"))
    watched = config["dbs"][0]
    assert watched["dir"] == str(tenants_data_dir.resolve())
    assert watched["pattern"] == "*.sqlite3" and watched["watch"] is True
    assert watched["replica"]["type"] == "s3"
    assert watched["replica"]["endpoint"] == s3_replica
    assert watched["replica"]["force-path-style"] is True
    env = litestream_env()
    assert "AWS_CA_BUNDLE" not in env
    assert env["AWS_ACCESS_KEY_ID"] == "quire-test-key"


def test_replicate_and_restore_into_a_branch(make_tenant, litestream):
    acme = make_tenant("acme")
    first = wait_replicated("acme")
    write_posts(acme, 25, "before")
    wait_replicated("acme", after=first)
    sync_now(slug="acme")  # every post shipped, not only the first transaction after `first`
    output = run("restore_tenant", "acme", "--from-replica", "--as", "acme-copy")
    assert "Created 'acme-copy' from the replica of 'acme'" in output
    assert post_count(database_path("acme-copy")) == post_count(database_path("acme")) == 25
    with sqlite3.connect(database_path("acme-copy")) as raw:
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    assert Tenant.objects.get(slug="acme-copy").status == Tenant.Status.ACTIVE


def test_point_in_time_restore_gets_exactly_the_earlier_state(make_tenant, litestream):
    acme = make_tenant("acme")
    write_posts(acme, 10, "first")
    first = wait_replicated("acme")
    # Point-in-time restores read level 1, compacted every second here (the setting), and
    # Litestream takes whole seconds: leave room on both sides of the chosen time.
    time.sleep(2.5)
    between = datetime.now(UTC)
    time.sleep(2)
    write_posts(acme, 7, "second")
    wait_replicated("acme", after=first)
    run(
        "restore_tenant",
        "acme",
        "--from-replica",
        "--timestamp",
        between.isoformat(),
        "--as",
        "acme-then",
    )
    with tenant_context(Tenant.objects.get(slug="acme-then")):
        titles = set(Post.objects.values_list("title", flat=True))
    assert titles == {f"first-{n}" for n in range(10)}
    run("restore_tenant", "acme", "--from-replica", "--as", "acme-now")
    assert post_count(database_path("acme-now")) == 17


def test_a_new_tenant_is_replicated_within_seconds(make_tenant, litestream):
    started = time.monotonic()
    make_tenant("newcomer")
    wait_replicated("newcomer", timeout=10)
    assert time.monotonic() - started < 10
    assert "in step" in run("list_tenants")


def test_restore_refuses_when_no_replica_exists(make_tenant, s3_replica):
    make_tenant("lonely")
    with pytest.raises(CommandError, match="No replica of 'lonely'"):
        run("restore_tenant", "lonely", "--from-replica", "--as", "lonely-copy")
    assert not Tenant.objects.filter(slug="lonely-copy").exists()
    assert not database_path("lonely-copy").exists()


def test_restore_options_are_checked(make_tenant, s3_replica, tmp_path):
    make_tenant("acme")
    with pytest.raises(CommandError, match="not an ISO 8601 time"):
        run("restore_tenant", "acme", "--from-replica", "--timestamp", "yesterday")
    with pytest.raises(CommandError, match="not a hexadecimal transaction id"):
        run("restore_tenant", "acme", "--from-replica", "--txid", "xyz")
    with pytest.raises(CommandError, match="go with --from-replica"):
        run("restore_tenant", "acme", "--from", str(tmp_path / "x.sqlite3"), "--as", "b")


def test_a_file_fetched_from_the_replica_starts_a_new_epoch(make_tenant, litestream):
    # A moved workspace's new primary fetches its file: positions it gives out from then on
    # must never equal one the old primary (or a replica following it) gave out.
    from apps.tenancy.nodes.bookmarks import bookmark_of
    from apps.tenancy.nodes.replication import fetch_from_replica
    from apps.tenancy.routing.databases import release_all

    acme = make_tenant("acme")
    first = wait_replicated("acme")
    write_posts(acme, 3, "before")
    wait_replicated("acme", after=first)
    release_all()
    before = bookmark_of(database_path("acme"))
    database_path("acme").rename(database_path("acme").with_suffix(".gone"))
    fetch_from_replica(slug="acme")
    after = bookmark_of(database_path("acme"))
    assert post_count(database_path("acme")) == 3
    assert after.epoch == before.epoch + 1
    assert after > before
