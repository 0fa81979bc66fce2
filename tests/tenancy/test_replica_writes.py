"""Replica reads that turn out to write, bookmarks from several sources, lag after a restore."""

from __future__ import annotations

import json
import sqlite3
from io import StringIO

from django.contrib.auth.tokens import default_token_generator
from django.core.management import call_command
from django.test import Client
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode

from apps.accounts.models import User
from apps.posts.models import Post
from apps.tenancy.fleet.services import tenant_backup, tenant_restore
from apps.tenancy.models import Tenant
from apps.tenancy.nodes.bookmarks import Bookmark, bookmark_of
from apps.tenancy.nodes.supervisor import report_positions
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import (
    copy_database,
    database_path,
    release_all,
    replica_path,
    replica_reads,
)
from tests.conftest import admin_email, host
from tests.tenancy.test_replica_reads import Primary, signed
from tests.tenancy.test_replica_reads import primary as primary
from tests.tenancy.test_replica_reads import replica_node as replica_node


def test_a_replica_read_sees_one_state_while_the_follower_applies(replica_node):
    """The request's read transaction should keep one snapshot; a change lands after it.

    databases.py:123 runs BEGIN in get_new_connection, but Django's connect() then calls
    set_autocommit(True), and setting isolation_level = None on a sqlite3 connection
    COMMITs the open transaction: every statement of the page reads a newer state.
    """
    tenant = Tenant.objects.get(slug="acme")
    with tenant_context(tenant), replica_reads("acme"):
        first = Post.objects.count()
        follower = sqlite3.connect(replica_path("acme"), timeout=0.2)
        follower.execute(
            "INSERT INTO posts_post (title, body, body_html, excerpt, author_id, created_at) "
            "SELECT 'applied', 'x', '', '', author_id, created_at FROM posts_post LIMIT 1"
        )
        follower.commit()
        follower.close()
        assert Post.objects.count() == first
    release_all()


def test_a_password_reset_link_opened_on_a_replica_node_is_no_500(replica_node):
    """PasswordResetConfirmView's GET puts the token in the session: a write at response time.

    SessionMiddleware saves it in process_response, outside the view, so the tenancy
    middleware's process_exception never sees it: 500 on every replica node.
    """
    tenant = Tenant.objects.get(slug="acme")
    with tenant_context(tenant):
        user = User.objects.get(email=admin_email("acme"))
        token = default_token_generator.make_token(user)
    release_all()
    uid = urlsafe_base64_encode(force_bytes(user.pk))
    anonymous = Client(raise_request_exception=False)
    response = anonymous.get(f"/reset/{uid}/{token}/", HTTP_HOST=host("acme"))
    assert response.status_code != 500
    assert response.status_code in (200, 302)


def test_a_read_that_turned_out_to_write_says_the_primary_served_it(
    replica_node,
):
    """A session whose password hash no longer matches is flushed (a write): forwarded.

    The forward happens (process_exception), but SessionMiddleware then saves the
    flushed session on the replica in process_response: SessionInterrupted, and the
    primary's answer is replaced by a 400 page. Were it not, served_here would still
    overwrite its X-Quire-Served-By with "node-2 replica" (middleware.py:123-124).
    """
    tenant = Tenant.objects.get(slug="acme")
    with tenant_context(tenant):
        user = User.objects.get(email=admin_email("acme"))
        user.set_password("a-new-password-123")
        user.save()
    release_all()
    replica_path("acme").unlink()
    copy_database(database_path("acme"), replica_path("acme"))
    replica_node.raise_request_exception = False
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert Primary.seen == ["GET /"]
    assert response.status_code == 200
    assert response.content == b"served by the primary"
    assert response["X-Quire-Served-By"] == "node-1 primary"


def test_the_sqlite_export_on_a_replica_node_is_no_500(replica_node):
    """GET /settings/export.sqlite3 is served by the replica, and reads the primary's path.

    On a real replica node that file is not there: TenantDatabaseMissing, which
    wants_primary does not forward, so a 500.
    """
    database_path("acme").rename(database_path("acme").with_suffix(".elsewhere"))
    replica_node.raise_request_exception = False
    response = replica_node.get("/settings/export.sqlite3", HTTP_HOST=host("acme"))
    assert response.status_code != 500
    assert Primary.seen == ["GET /settings/export.sqlite3"]


def test_a_newer_bookmark_header_is_not_hidden_by_an_older_cookie(replica_node):
    """middleware.py:171 takes the cookie OR the header: the cookie wins even when the
    header (an API client's last write) is ahead of the replica, so the read is stale."""
    reached = bookmark_of(replica_path("acme"))
    replica_node.cookies["quire_bookmark"] = signed(reached)
    ahead = signed(Bookmark(reached.epoch, reached.position + 1))
    response = replica_node.get("/", HTTP_HOST=host("acme"), HTTP_X_QUIRE_BOOKMARK=ahead)
    assert Primary.seen == ["GET /"]
    assert response.content == b"served by the primary"


def test_list_tenants_does_not_call_a_pre_restore_replica_in_step(make_tenant, settings, tmp_path):
    """The supervisor reports the replica's position without its epoch (supervisor.py:333),
    and list_tenants' lag is primary - replica positions: a replica still on the file an
    in-place restore replaced shows lag 0."""
    settings.QUIRE_NODES = {"node-1": "127.0.0.1:9", "node-2": "127.0.0.1:9"}
    tenant = make_tenant("acme")
    backup = tenant_backup(tenant=tenant, destination=tmp_path / "early.sqlite3")
    with tenant_context(tenant):
        author = User.objects.get(email=admin_email("acme"))
        for n in range(5):
            Post.objects.create(author=author, title=f"before restore {n}", body="x")
    release_all()
    copy_database(database_path("acme"), replica_path("acme"))  # node-2 follows this file
    tenant_restore(slug="acme", source=backup)
    release_all()
    call_command("replicate_tenant", "acme", "--on", "node-2", stdout=StringIO())
    settings.QUIRE_NODE_ID = "node-2"
    report_positions(["acme"])
    settings.QUIRE_NODE_ID = "node-1"
    out = StringIO()
    call_command("list_tenants", "--json", stdout=out)
    (row,) = json.loads(out.getvalue())
    (replica,) = row["replicas"]
    assert replica["lag"] != 0, row
