"""Odd reads on a replica node: bookmarks nobody meant to send, HEAD, admin, search."""

from __future__ import annotations

import json
import sqlite3
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.accounts.models import User
from apps.posts.models import Post
from apps.tenancy.bookmarks import Bookmark, bookmark_of
from apps.tenancy.context import tenant_context
from apps.tenancy.databases import (
    copy_database,
    database_path,
    release_all,
    replica_path,
)
from apps.tenancy.models import ReplicaPlacement, Tenant
from apps.tenancy.replicas import tenant_replica_place
from tests.conftest import admin_email, host
from tests.tenancy.test_replica_reads import Primary, digest
from tests.tenancy.test_replica_reads import primary as primary


@pytest.fixture
def on_replica(make_tenant, sign_in, settings, primary):
    """acme homed on node-1 (a stub), its replica here on node-2; a signed-in client."""
    settings.QUIRE_NODES = {"node-1": primary, "node-2": "127.0.0.1:9"}
    settings.QUIRE_REPLICA_WAIT_MS = 100
    tenant = make_tenant("acme")
    with tenant_context(tenant):
        author = User.objects.get(email=admin_email("acme"))
        Post.objects.create(author=author, title="Replicated post", body="searchable words")
    client = Client()
    sign_in(client, tenant)
    release_all()
    Tenant.objects.filter(slug="acme").update(home_node="node-1")
    settings.QUIRE_NODE_ID = "node-2"
    tenant_replica_place(tenant=tenant, node="node-2")
    copy_database(database_path("acme"), replica_path("acme"))
    return client


def served_by_replica(response) -> bool:
    return response["X-Quire-Served-By"] == "node-2 replica" and Primary.seen == []


@pytest.mark.parametrize(
    "garbage",
    [
        "",
        "not-a-bookmark",
        "1.",
        ".5",
        "1" * 4000,
        "0.0; quire_bookmark=9.9",
        "\x00\x01",
    ],
)
def test_a_garbage_bookmark_cookie_is_ignored_and_the_replica_serves(on_replica, garbage):
    on_replica.cookies["quire_bookmark"] = garbage
    response = on_replica.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert served_by_replica(response)
    assert b"Replicated post" in response.content


def test_a_garbage_bookmark_header_is_ignored(on_replica):
    response = on_replica.get("/", HTTP_HOST=host("acme"), HTTP_X_QUIRE_BOOKMARK="1." + "9" * 5000)
    assert response.status_code == 200
    assert served_by_replica(response)


@pytest.mark.parametrize("forged", ["999999999.1", "0.999999999999999999"])
def test_a_bookmark_from_the_future_is_sent_to_the_primary_never_a_500(on_replica, forged):
    on_replica.cookies["quire_bookmark"] = forged
    response = on_replica.get("/", HTTP_HOST=host("acme"))
    assert response.content == b"served by the primary"
    assert Primary.seen == ["GET /"]


def test_a_bookmark_of_an_older_epoch_is_reached_whatever_its_position(on_replica):
    reached = bookmark_of(replica_path("acme"))
    older = Bookmark(reached.epoch - 1, 10**12) if reached.epoch else None
    if older is None:  # epoch 0: make the replica's epoch 1 instead
        raw = sqlite3.connect(replica_path("acme"))
        raw.execute("UPDATE quire_commit_position SET epoch = 1")
        raw.commit()
        raw.close()
        older = Bookmark(0, 10**12)
    on_replica.cookies["quire_bookmark"] = str(older)
    response = on_replica.get("/", HTTP_HOST=host("acme"))
    assert served_by_replica(response)


def test_head_is_served_by_the_replica_without_a_body(on_replica):
    before = digest(replica_path("acme"))
    response = on_replica.head("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert served_by_replica(response)
    assert response.content == b""
    assert digest(replica_path("acme")) == before


def test_head_with_an_unreached_bookmark_goes_to_the_primary(on_replica, monkeypatch):
    monkeypatch.setattr(Primary, "do_HEAD", Primary.do_GET, raising=False)
    reached = bookmark_of(replica_path("acme"))
    on_replica.cookies["quire_bookmark"] = f"{reached.epoch}.{reached.position + 1}"
    response = on_replica.head("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert Primary.seen == ["HEAD /"]


def test_search_is_served_by_the_replica(on_replica):
    response = on_replica.get("/search/", {"q": "searchable"}, HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert served_by_replica(response)
    assert b"Replicated post" in response.content
    broken = on_replica.get("/search/", {"q": '"unbalanced'}, HTTP_HOST=host("acme"))
    assert broken.status_code == 200
    assert b"could not be understood" in broken.content


def test_the_admin_site_reads_from_the_replica(on_replica):
    before = digest(replica_path("acme"))
    for path in ("/admin/", "/admin/posts/post/", "/admin/accounts/user/"):
        response = on_replica.get(path, HTTP_HOST=host("acme"))
        assert response.status_code == 200, path
        assert served_by_replica(response), path
    assert digest(replica_path("acme")) == before


def test_a_read_of_another_workspace_is_not_served_from_this_replica(on_replica, make_tenant):
    other = make_tenant("beta")  # homed here, on node-2: its own file, not acme's replica
    response = Client().get("/login/", HTTP_HOST=host(other.slug))
    assert response.status_code == 200
    assert response["X-Quire-Served-By"] == "node-2 primary"


def test_replicate_tenant_refuses_what_it_cannot_do(make_tenant, settings):
    settings.QUIRE_NODES = {"node-1": "127.0.0.1:9", "node-2": "127.0.0.1:9"}
    make_tenant("acme")
    with pytest.raises(CommandError, match="node-1 is the primary of 'acme'"):
        call_command("replicate_tenant", "acme", "--on", "node-1", stdout=StringIO())
    with pytest.raises(CommandError, match="Unknown node 'node-9'; other nodes: node-2"):
        call_command("replicate_tenant", "acme", "--on", "node-9", stdout=StringIO())
    with pytest.raises(CommandError, match="nobody"):
        call_command("replicate_tenant", "nobody", "--on", "node-2", stdout=StringIO())
    out = StringIO()
    call_command("replicate_tenant", "acme", "--on", "node-2", "--remove", stdout=out)
    assert "had no replica on node-2" in out.getvalue()
    assert not ReplicaPlacement.objects.exists()


def test_replicate_tenant_twice_and_list_tenants_json(make_tenant, settings):
    settings.QUIRE_NODES = {"node-1": "127.0.0.1:9", "node-2": "127.0.0.1:9", "node-3": "x:1"}
    make_tenant("acme")
    for _ in range(2):
        call_command(
            "replicate_tenant", "acme", "--on", "node-2", "--on", "node-3", stdout=StringIO()
        )
    assert ReplicaPlacement.objects.count() == 2
    out = StringIO()
    call_command("list_tenants", "--json", stdout=out)

    (row,) = json.loads(out.getvalue())
    assert row["primary"]["node"] == "node-1"
    assert isinstance(row["primary"]["position"], int)
    assert [(r["node"], r["position"], r["lag"]) for r in row["replicas"]] == [
        ("node-2", None, None),
        ("node-3", None, None),
    ]


def test_a_deleted_workspace_cannot_be_placed(make_tenant, settings):
    from apps.tenancy.services import tenant_delete

    settings.QUIRE_NODES = {"node-1": "127.0.0.1:9", "node-2": "127.0.0.1:9"}
    tenant_delete(tenant=make_tenant("acme"))
    with pytest.raises(CommandError, match="no data to copy"):
        call_command("replicate_tenant", "acme", "--on", "node-2", stdout=StringIO())
