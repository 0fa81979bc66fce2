"""Tenants have a home node; a lost node's tenants are rebuilt elsewhere from replicas."""

from __future__ import annotations

import sqlite3
import time
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from apps.accounts.models import User
from apps.posts.services import post_create
from apps.tenancy.models import ReplicaPlacement, Tenant
from apps.tenancy.nodes.replication import replication_position
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import database_files, database_path, release_all
from tests.conftest import admin_email, host


def test_new_tenants_are_homed_on_the_node_that_creates_them(make_tenant, settings):
    settings.QUIRE_NODE_ID = "node-7"
    assert make_tenant("acme").home_node == "node-7"


def test_a_tenant_homed_elsewhere_is_sent_to_its_home_never_served_here(client, make_tenant):
    make_tenant("acme")
    Tenant.objects.filter(slug="acme").update(home_node="node-2")
    response = client.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 421  # Misdirected Request: the proxy forwards it
    assert response["X-Quire-Home-Node"] == "node-2"
    assert b"served from another machine" in response.content


def test_a_moving_tenant_gets_a_retryable_503(client, make_tenant):
    make_tenant("acme")
    Tenant.objects.filter(slug="acme").update(status=Tenant.Status.MOVING)
    response = client.get("/", HTTP_HOST=host("acme"))
    assert response.status_code == 503 and response["Retry-After"] == "1"


def test_restore_node_refuses_this_node(db):
    with pytest.raises(CommandError, match="'node-1' is this node"):
        call_command("restore_node", "--from", "node-1", stdout=StringIO())


@pytest.mark.django_db(transaction=True)
def test_a_lost_nodes_tenants_are_rebuilt_here_from_replicas(
    make_tenant, litestream, client, sign_in
):
    acme, beta = make_tenant("acme"), make_tenant("beta")
    with tenant_context(acme):
        author = User.objects.get(email=admin_email("acme"))
        for n in range(12):
            post_create(author=author, title=f"kept {n}", body="x")
    wait_for_replica("acme", posts=12)
    # node-2 is lost: acme lived there, so this machine has none of its files.
    release_all()
    Tenant.objects.filter(slug="acme").update(home_node="node-2")
    for path in database_files("acme"):
        path.unlink(missing_ok=True)

    output = StringIO()
    call_command("restore_node", "--from", "node-2", stdout=output)
    assert "acme: restored here" in output.getvalue()
    assert "1 of 1 tenant(s) of 'node-2' now on 'node-1'." in output.getvalue()
    assert Tenant.objects.get(slug="acme").home_node == "node-1"
    with sqlite3.connect(database_path("acme")) as raw:
        assert raw.execute("SELECT count(*) FROM posts_post").fetchone() == (12,)
        assert raw.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    sign_in(client, Tenant.objects.get(slug="acme"))
    assert b"kept 11" in client.get("/", HTTP_HOST=host("acme")).content
    assert Tenant.objects.get(slug="beta").home_node == beta.home_node


def wait_for_replica(slug: str, posts: int, timeout: float = 15) -> None:
    """Wait until a restore of the replica would hold this many posts."""
    from apps.tenancy.nodes.replication import replica_restore

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if replication_position(slug=slug).replica_txid:
            probe = database_path(slug).with_name(f".{slug}.probe")
            try:
                replica_restore(slug=slug, destination=probe)
                with sqlite3.connect(probe) as raw:
                    if raw.execute("SELECT count(*) FROM posts_post").fetchone()[0] >= posts:
                        return
            finally:
                probe.unlink(missing_ok=True)
        time.sleep(0.3)
    raise AssertionError(f"the replica of '{slug}' never held {posts} posts")


@pytest.mark.django_db(transaction=True)
def test_move_tenant_hands_the_workspace_to_another_node(
    make_tenant, litestream, client, sign_in, settings, tmp_path
):
    settings.QUIRE_NODES = {"node-1": "127.0.0.1:1", "node-2": "127.0.0.1:2"}
    settings.TENANT_DB_TIMEOUT = 0.5
    acme = make_tenant("acme")
    with tenant_context(acme):
        author = User.objects.get(email=admin_email("acme"))
        for n in range(8):
            post_create(author=author, title=f"moved {n}", body="x")
    sign_in(client, acme)  # a session written on node-1 must come along
    call_command("replicate_tenant", "acme", "--on", "node-2", stdout=StringIO())

    output = StringIO()
    call_command("move_tenant", "acme", "--to", "node-2", stdout=output)
    assert "Moved 'acme' to node-2." in output.getvalue()
    assert Tenant.objects.get(slug="acme").home_node == "node-2"
    assert not ReplicaPlacement.objects.filter(node="node-2").exists()  # now its primary
    assert not database_path("acme").exists()
    # node-1 no longer serves it: it forwards to node-2, which is not running here.
    assert client.get("/", HTTP_HOST=host("acme")).status_code == 503

    # Now be node-2: another machine, with an empty tenants folder.
    settings.QUIRE_NODE_ID = "node-2"
    settings.TENANTS_DATA_DIR = tmp_path / "node-2"
    release_all()
    page = client.get("/", HTTP_HOST=host("acme"))
    assert page.status_code == 200
    assert b"moved 7" in page.content
    with sqlite3.connect(tmp_path / "node-2" / "acme.sqlite3") as raw:
        assert raw.execute("SELECT count(*) FROM posts_post").fetchone() == (8,)


def test_move_tenant_refuses_what_it_cannot_do(make_tenant, settings):
    make_tenant("acme")
    with pytest.raises(CommandError, match="needs replication on"):
        call_command("move_tenant", "acme", "--to", "node-2", stdout=StringIO())
    settings.QUIRE_REPLICATION = True
    settings.QUIRE_NODES = {"node-1": "127.0.0.1:1"}
    with pytest.raises(CommandError, match="Cannot move to 'node-9'; other nodes: none"):
        call_command("move_tenant", "acme", "--to", "node-9", stdout=StringIO())
    Tenant.objects.filter(slug="acme").update(home_node="node-3")
    with pytest.raises(CommandError, match="lives on node-3: run this there"):
        call_command("move_tenant", "acme", "--to", "node-1", stdout=StringIO())


def test_proxy_config_routes_each_host_to_its_node(make_tenant, settings):
    settings.QUIRE_NODES = {"node-1": "127.0.0.1:8001", "node-2": "127.0.0.1:8002"}
    make_tenant("acme")
    make_tenant("beta")
    Tenant.objects.filter(slug="beta").update(home_node="node-2")
    make_tenant("gamma")
    config = StringIO()
    call_command("proxy_config", "--listen", "127.0.0.1:8080", stdout=config)
    text = config.getvalue()
    assert "acme.quire.test quire_node-1;" in text and "beta.quire.test quire_node-2;" in text
    assert "default quire_node-2;" in text  # node-2 has fewer tenants: sign-ups go there
    assert "upstream quire_node-1 { server 127.0.0.1:8001; }" in text
    assert "listen 127.0.0.1:8080;" in text
