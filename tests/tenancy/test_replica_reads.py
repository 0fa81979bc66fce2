"""A node with a read replica serves GET and HEAD from it; writes and stale reads go home."""

from __future__ import annotations

import hashlib
import os
import sqlite3
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from asgiref.sync import async_to_sync
from django.contrib.sessions.models import Session
from django.db import OperationalError
from django.http import HttpResponse
from django.test import Client, RequestFactory

from apps.accounts.models import User
from apps.posts.models import Post
from apps.posts.services import post_create
from apps.tenancy.exceptions import ReplicaReadOnly
from apps.tenancy.models import Tenant
from apps.tenancy.nodes import replicapool
from apps.tenancy.nodes.bookmarks import Bookmark, bookmark_of, sign
from apps.tenancy.nodes.replicas import heartbeat, read_marker, tenant_replica_place
from apps.tenancy.routing import middleware, work
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import (
    copy_database,
    database_path,
    open_connection_count,
    release_all,
    replica_path,
    replica_reads,
)
from apps.tenancy.routing.memo import workspace_memo
from apps.tenancy.routing.middleware import TenantMiddleware
from tests.conftest import admin_email, host


class Primary(BaseHTTPRequestHandler):
    """Stands for the workspace's home node: says so, and counts what reached it."""

    seen: list[str] = []

    def do_GET(self) -> None:
        self._answer()

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self._answer()

    def _answer(self) -> None:
        Primary.seen.append(f"{self.command} {self.path}")
        body = b"served by the primary"
        self.send_response(200)
        self.send_header("X-Quire-Served-By", "node-1 primary")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def primary() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Primary)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    Primary.seen = []
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture
def replica_node(make_tenant, sign_in, settings, primary):
    """acme homed on node-1 (the stub), with a replica here on node-2; a signed-in client."""
    settings.QUIRE_NODES = {"node-1": primary, "node-2": "127.0.0.1:9"}
    settings.QUIRE_REPLICA_WAIT_MS = 100
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        author = User.objects.get(email=admin_email("acme"))
        post_create(author=author, title="Replicated post", body="searchable words")
    client = Client()
    sign_in(client, tenant)
    release_all()
    settings.QUIRE_NODE_ID = "node-2"
    tenant_replica_place(tenant=tenant, node="node-2")
    copy_database(database_path("acme"), replica_path("acme"))  # what the follower keeps
    heartbeat("acme").touch()  # as the supervisor does while the follower runs
    settings.QUIRE_REPLICA_HEARTBEAT_SECONDS = 3600  # however slow the test: still live
    return client


def signed(mark: Bookmark, slug: str = "acme") -> str:
    """Return a bookmark as the workspace hands it out (signed for it)."""
    return sign(mark, tenant_id=Tenant.objects.get(slug=slug).pk)


def digest(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_a_read_is_served_by_the_local_replica_which_stays_untouched(replica_node):
    before = digest(replica_path("acme"))
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert response["X-Quire-Served-By"] == "node-2 replica"
    assert b"Replicated post" in response.content
    assert Primary.seen == []
    assert digest(replica_path("acme")) == before


def test_a_write_goes_to_the_primary(replica_node):
    form = {"title": "New", "body": "b", "tags": ""}
    response = replica_node.post("/posts/new/", form, HTTP_HOST=host("acme"))
    assert response.content == b"served by the primary"
    assert Primary.seen == ["POST /posts/new/"]


def test_a_read_after_ones_own_write_waits_for_the_replica_or_goes_home(replica_node):
    reached = bookmark_of(replica_path("acme"))
    ahead = Bookmark(reached.epoch, reached.position + 1)
    replica_node.cookies["quire_bookmark"] = signed(reached)
    assert replica_node.get("/", HTTP_HOST=host("acme"))["X-Quire-Served-By"] == "node-2 replica"
    replica_node.cookies["quire_bookmark"] = signed(ahead)  # a write the replica has not got
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert response.content == b"served by the primary"
    assert Primary.seen == ["GET /"]


def test_an_api_client_bookmark_header_counts_too(replica_node):
    reached = bookmark_of(replica_path("acme"))
    ahead = signed(Bookmark(reached.epoch, reached.position + 5))
    response = replica_node.get("/", HTTP_HOST=host("acme"), HTTP_X_QUIRE_BOOKMARK=ahead)
    assert response.content == b"served by the primary"


def test_a_workspace_without_a_replica_here_is_forwarded(replica_node):
    Tenant.objects.filter(slug="acme").update(home_node="node-1")
    replica_path("acme").unlink()
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert response.content == b"served by the primary"


def test_nothing_is_ever_written_to_a_replica(replica_node):
    tenant = Tenant.objects.get(slug="acme")
    before = digest(replica_path("acme"))
    with tenant_context(tenant), replica_reads("acme"):
        assert Post.objects.filter(title="Replicated post").exists()
        with pytest.raises(ReplicaReadOnly, match="writes go to the primary"), work.atomic():
            pass
        with pytest.raises(OperationalError, match="readonly"):
            Post.objects.filter(title="Replicated post").update(title="Changed")
    release_all()
    with tenant_context(tenant), replica_reads("acme"):
        assert Post.objects.filter(title="Replicated post").exists()
    release_all()
    assert digest(replica_path("acme")) == before


def test_a_damaged_replica_sends_reads_to_the_primary(replica_node):
    replica_path("acme").write_bytes(b"not a database" * 1000)
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert response.content == b"served by the primary"


def test_with_the_primary_down_writes_are_refused_and_reads_say_read_only(replica_node, settings):
    settings.QUIRE_NODES = {"node-1": "127.0.0.1:9", "node-2": "127.0.0.1:9"}  # nobody there
    form = {"title": "New", "body": "b", "tags": ""}
    refused = replica_node.post("/posts/new/", form, HTTP_HOST=host("acme"))
    assert refused.status_code == 503
    assert refused["Retry-After"]
    assert b"Read-only for the moment" in refused.content
    page = replica_node.get("/", HTTP_HOST=host("acme"))
    assert page.status_code == 200
    assert page["X-Quire-Served-By"] == "node-2 replica"
    assert b"read-only for the moment" in page.content
    assert b"Replicated post" in page.content


def test_a_replica_whose_follower_stopped_reporting_is_not_served_and_the_read_wakes_it(
    replica_node, settings
):
    settings.QUIRE_REPLICA_HEARTBEAT_SECONDS = 5
    stale = time.time() - 6
    os.utime(heartbeat("acme"), (stale, stale))
    read_marker("acme").unlink(missing_ok=True)
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert response.content == b"served by the primary"
    assert read_marker("acme").is_file()  # the supervisor starts a follower
    heartbeat("acme").unlink()  # a follower never started, or stopped for idleness
    assert replica_node.get("/", HTTP_HOST=host("acme")).content == b"served by the primary"
    heartbeat("acme").touch()  # the follower is live again
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert response["X-Quire-Served-By"] == "node-2 replica"
    assert Primary.seen == ["GET /", "GET /"]


def test_a_read_is_noted_at_most_every_few_seconds_per_process(replica_node, settings):
    settings.QUIRE_REPLICA_READ_MARK_SECONDS = 3600
    replica_node.get("/", HTTP_HOST=host("acme"))
    noted = read_marker("acme").stat().st_mtime
    os.utime(read_marker("acme"), (noted - 100, noted - 100))
    replica_node.get("/", HTTP_HOST=host("acme"))
    assert read_marker("acme").stat().st_mtime == noted - 100  # not touched again


def follow(slug: str = "acme") -> None:
    """Bring the replica up to the primary in place (same file, same inode), as the follower."""
    source, target = sqlite3.connect(database_path(slug)), sqlite3.connect(replica_path(slug))
    try:
        source.backup(target)
    finally:
        source.close()
        target.close()


def signed_in_on_replica(client: Client) -> bool:
    response = client.get("/", HTTP_HOST=host("acme"))
    assert response["X-Quire-Served-By"] == "node-2 replica"
    return b"Sign out" in response.content


def test_a_replica_read_sees_the_member_as_of_the_state_the_replica_reached(replica_node):
    inode = replica_path("acme").stat().st_ino
    assert signed_in_on_replica(replica_node)
    assert signed_in_on_replica(replica_node)  # from the memo of this replica state
    with tenant_context(Tenant.objects.get(slug="acme")), work.atomic():
        User.objects.filter(email=admin_email("acme")).update(is_active=False)
    release_all()
    assert signed_in_on_replica(replica_node)  # the replica has not got the change yet
    follow()
    assert replica_path("acme").stat().st_ino == inode
    assert not signed_in_on_replica(replica_node)


def test_a_sign_out_on_the_primary_signs_out_replica_reads_once_the_replica_has_it(replica_node):
    assert signed_in_on_replica(replica_node)
    with tenant_context(Tenant.objects.get(slug="acme")), work.atomic():
        Session.objects.all().delete()  # as a sign-out on the primary (or elsewhere)
    release_all()
    assert signed_in_on_replica(replica_node)
    follow()
    assert not signed_in_on_replica(replica_node)


def test_two_workspaces_replica_reads_never_share_memo_entries(replica_node, make_tenant):
    beta = make_tenant("beta")
    copy_database(database_path("beta"), replica_path("beta"))
    acme = Tenant.objects.get(slug="acme")
    with tenant_context(acme), replica_reads("acme"):
        memo = workspace_memo()
        assert memo is not None
        memo[("session", "shared-key")] = "acme's"
    release_all()
    with tenant_context(beta), replica_reads("beta"):
        memo = workspace_memo()
        assert memo is not None
        assert ("session", "shared-key") not in memo
    release_all()
    with tenant_context(acme), replica_reads("acme"):
        assert workspace_memo() == {("session", "shared-key"): "acme's"}
    release_all()


def test_the_replica_connection_checked_for_a_bookmark_never_outlives_the_request(replica_node):
    before = open_connection_count()
    reached = bookmark_of(replica_path("acme"))
    replica_node.cookies["quire_bookmark"] = signed(reached)
    assert replica_node.get("/", HTTP_HOST=host("acme"))["X-Quire-Served-By"] == "node-2 replica"
    assert open_connection_count() == before
    replica_node.cookies["quire_bookmark"] = signed(Bookmark(reached.epoch, reached.position + 1))
    assert replica_node.get("/", HTTP_HOST=host("acme")).content == b"served by the primary"
    assert open_connection_count() == before  # the looks that fell short closed theirs


def test_a_read_another_node_forwarded_here_is_never_forwarded_again(replica_node):
    response = replica_node.get("/", HTTP_HOST=host("acme"), HTTP_X_QUIRE_FORWARDED="node-3")
    assert response.status_code == 421
    assert response["X-Quire-Home-Node"] == "node-1"
    assert Primary.seen == []


def follower_can_write(slug: str = "acme") -> bool:
    """Return True if the follower could apply a change now (no reader holds the file)."""
    follower = sqlite3.connect(replica_path(slug), timeout=0)
    try:
        follower.execute("BEGIN EXCLUSIVE")
        follower.execute("ROLLBACK")
        return True
    except sqlite3.OperationalError:  # database is locked
        return False
    finally:
        follower.close()


@pytest.fixture
def published_replica(replica_node):
    """The replica in a rollback journal, as the supervisor publishes it."""
    follower = sqlite3.connect(replica_path("acme"))
    follower.execute("PRAGMA journal_mode = DELETE")
    follower.close()
    assert follower_can_write()
    yield replica_node
    replicapool.close_all()  # the connections parked for later reads (process-wide)


def test_a_replica_read_ends_when_something_raises_after_its_bookmark_check(
    published_replica, monkeypatch
):
    checked = TenantMiddleware.replica_serves

    def check_then_fail(self, request, tenant):
        assert checked(self, request, tenant)  # the read transaction is open now
        assert not follower_can_write()
        raise RuntimeError("after the check")

    monkeypatch.setattr(TenantMiddleware, "replica_serves", check_then_fail)
    with pytest.raises(RuntimeError, match="after the check"):
        published_replica.get("/", HTTP_HOST=host("acme"))
    assert follower_can_write()


def test_a_replica_read_ends_when_counting_the_request_fails(
    published_replica, settings, monkeypatch
):
    settings.QUIRE_USAGE_METERING = True

    def fail(tenant):
        assert not follower_can_write()  # counted while the read is still open
        raise RuntimeError("metering failed")

    monkeypatch.setattr(middleware, "count_request", fail)
    with pytest.raises(RuntimeError, match="metering failed"):
        published_replica.get("/", HTTP_HOST=host("acme"))
    assert follower_can_write()


def test_an_async_replica_read_ends_when_something_raises_after_its_bookmark_check(
    published_replica, monkeypatch
):
    checked = TenantMiddleware.replica_serves

    def check_then_fail(self, request, tenant):
        assert checked(self, request, tenant)
        raise RuntimeError("after the check")

    monkeypatch.setattr(TenantMiddleware, "replica_serves", check_then_fail)

    async def view(request):
        return HttpResponse("never")

    tenant_middleware = TenantMiddleware(view)
    request = RequestFactory().get("/", HTTP_HOST=host("acme"))
    with pytest.raises(RuntimeError, match="after the check"):
        async_to_sync(tenant_middleware)(request)
    assert follower_can_write()
