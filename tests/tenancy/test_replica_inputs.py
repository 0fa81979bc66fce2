"""Odd reads on a replica node: bookmarks nobody meant to send, HEAD, admin, search."""

from __future__ import annotations

import json
import sqlite3
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client

from apps.tenancy.models import ReplicaPlacement
from apps.tenancy.nodes.bookmarks import Bookmark, bookmark_of
from apps.tenancy.routing.databases import (
    replica_path,
)
from tests.conftest import host
from tests.tenancy.test_replica_reads import Primary, digest, signed
from tests.tenancy.test_replica_reads import primary as primary
from tests.tenancy.test_replica_reads import replica_node as replica_node


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
def test_a_garbage_bookmark_cookie_is_ignored_and_the_replica_serves(replica_node, garbage):
    replica_node.cookies["quire_bookmark"] = garbage
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert served_by_replica(response)
    assert b"Replicated post" in response.content


def test_a_garbage_bookmark_header_is_ignored(replica_node):
    response = replica_node.get(
        "/", HTTP_HOST=host("acme"), HTTP_X_QUIRE_BOOKMARK="1." + "9" * 5000
    )
    assert response.status_code == 200
    assert served_by_replica(response)


@pytest.mark.parametrize("forged", ["999999999.1", "0.999999999999999999", "0.5:forged-mac"])
def test_a_forged_bookmark_from_the_future_makes_no_read_wait(replica_node, settings, forged):
    settings.QUIRE_REPLICA_WAIT_MS = 60_000  # were it believed: a minute's wait, then home
    replica_node.cookies["quire_bookmark"] = forged
    response = replica_node.get("/", HTTP_HOST=host("acme"), HTTP_X_QUIRE_BOOKMARK=forged)
    assert response.status_code == 200
    assert served_by_replica(response)


def test_another_workspaces_bookmark_means_nothing_here(replica_node, settings, make_tenant):
    settings.QUIRE_REPLICA_WAIT_MS = 60_000
    other = make_tenant("beta")
    reached = bookmark_of(replica_path("acme"))
    foreign = signed(Bookmark(reached.epoch, reached.position + 10**6), slug=other.slug)
    replica_node.cookies["quire_bookmark"] = foreign
    response = replica_node.get("/", HTTP_HOST=host("acme"), HTTP_X_QUIRE_BOOKMARK=foreign)
    assert served_by_replica(response)


def test_a_signed_bookmark_from_the_future_is_sent_to_the_primary_never_a_500(replica_node):
    reached = bookmark_of(replica_path("acme"))
    replica_node.cookies["quire_bookmark"] = signed(Bookmark(reached.epoch + 10**6, 1))
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert response.content == b"served by the primary"
    assert Primary.seen == ["GET /"]


def test_a_bookmark_of_an_older_epoch_is_reached_whatever_its_position(replica_node):
    reached = bookmark_of(replica_path("acme"))
    older = Bookmark(reached.epoch - 1, 10**12) if reached.epoch else None
    if older is None:  # epoch 0: make the replica's epoch 1 instead
        raw = sqlite3.connect(replica_path("acme"))
        raw.execute("UPDATE quire_commit_position SET epoch = 1")
        raw.commit()
        raw.close()
        older = Bookmark(0, 10**12)
    replica_node.cookies["quire_bookmark"] = signed(older)
    response = replica_node.get("/", HTTP_HOST=host("acme"))
    assert served_by_replica(response)


def test_head_is_served_by_the_replica_without_a_body(replica_node):
    before = digest(replica_path("acme"))
    response = replica_node.head("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert served_by_replica(response)
    assert response.content == b""
    assert digest(replica_path("acme")) == before


def test_head_with_an_unreached_bookmark_goes_to_the_primary(replica_node, monkeypatch):
    monkeypatch.setattr(Primary, "do_HEAD", Primary.do_GET, raising=False)
    reached = bookmark_of(replica_path("acme"))
    replica_node.cookies["quire_bookmark"] = signed(Bookmark(reached.epoch, reached.position + 1))
    response = replica_node.head("/", HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert Primary.seen == ["HEAD /"]


def test_search_is_served_by_the_replica(replica_node):
    response = replica_node.get("/search/", {"q": "searchable"}, HTTP_HOST=host("acme"))
    assert response.status_code == 200
    assert served_by_replica(response)
    assert b"Replicated post" in response.content
    broken = replica_node.get("/search/", {"q": '"unbalanced'}, HTTP_HOST=host("acme"))
    assert broken.status_code == 200  # an everyday query: searched as plain words
    assert served_by_replica(broken)


def test_the_admin_site_reads_from_the_replica(replica_node):
    before = digest(replica_path("acme"))
    for path in ("/admin/", "/admin/posts/post/", "/admin/accounts/user/"):
        response = replica_node.get(path, HTTP_HOST=host("acme"))
        assert response.status_code == 200, path
        assert served_by_replica(response), path
    assert digest(replica_path("acme")) == before


def test_a_read_of_another_workspace_is_not_served_from_this_replica(replica_node, make_tenant):
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
    from apps.tenancy.fleet.services import tenant_delete

    settings.QUIRE_NODES = {"node-1": "127.0.0.1:9", "node-2": "127.0.0.1:9"}
    tenant_delete(tenant=make_tenant("acme"))
    with pytest.raises(CommandError, match="no data to copy"):
        call_command("replicate_tenant", "acme", "--on", "node-2", stdout=StringIO())
