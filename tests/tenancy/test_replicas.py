"""Read replica placements: an operator places them, list_tenants shows them."""

from __future__ import annotations

import json
from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from apps.tenancy.models import ReplicaPlacement

NODES = {"node-1": "127.0.0.1:8001", "node-2": "127.0.0.1:8002", "node-3": "127.0.0.1:8003"}


@pytest.fixture
def nodes(settings):
    settings.QUIRE_NODES = NODES
    settings.QUIRE_NODE_ID = "node-1"


def run(*args: str) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def listed(slug: str) -> dict:
    out = StringIO()
    call_command("list_tenants", "--json", stdout=out)
    return next(row for row in json.loads(out.getvalue()) if row["slug"] == slug)


def test_replicas_are_placed_on_several_nodes_and_listed(make_tenant, nodes):
    make_tenant("acme")
    output = run("replicate_tenant", "acme", "--on", "node-2", "--on", "node-3")
    assert "replicas: node-2, node-3" in output
    run("replicate_tenant", "acme", "--on", "node-2")  # placing again changes nothing
    assert ReplicaPlacement.objects.filter(tenant__slug="acme").count() == 2
    row = listed("acme")
    assert row["primary"]["node"] == "node-1"
    assert isinstance(row["primary"]["position"], int)
    assert [(r["node"], r["position"], r["lag"]) for r in row["replicas"]] == [
        ("node-2", None, None),
        ("node-3", None, None),
    ]


def test_list_shows_how_far_each_replica_has_come(make_tenant, nodes):
    make_tenant("acme")
    run("replicate_tenant", "acme", "--on", "node-2")
    primary = listed("acme")["primary"]["position"]
    ReplicaPlacement.objects.filter(node="node-2").update(
        epoch=0, position=primary - 1, reported_at=timezone.now()
    )
    row = listed("acme")
    assert row["replicas"][0]["lag"] == 1
    text = run("list_tenants")
    assert f"primary node-1 at {primary}; replicas: node-2 at {primary - 1} (1 behind)" in text


def test_a_replica_is_removed(make_tenant, nodes):
    make_tenant("acme")
    run("replicate_tenant", "acme", "--on", "node-2")
    assert "Removed the replica on node-2" in run(
        "replicate_tenant", "acme", "--on", "node-2", "--remove"
    )
    assert "had no replica on node-2" in run(
        "replicate_tenant", "acme", "--on", "node-2", "--remove"
    )
    assert listed("acme")["replicas"] == []


@pytest.mark.parametrize(
    ("node", "message"),
    [
        ("node-9", r"Unknown node 'node-9'; other nodes: node-2, node-3 \(QUIRE_NODES\)"),
        ("node-1", r"node-1 is the primary of 'acme', not a replica"),
    ],
)
def test_a_replica_needs_another_known_node(make_tenant, nodes, node, message):
    make_tenant("acme")
    with pytest.raises(CommandError, match=message):
        run("replicate_tenant", "acme", "--on", node)


def test_a_deleted_workspace_gets_no_replica(make_tenant, nodes):
    from apps.tenancy.fleet.services import tenant_delete

    tenant_delete(tenant=make_tenant("acme"))
    with pytest.raises(CommandError, match="'acme' is deleted; it has no data to copy"):
        run("replicate_tenant", "acme", "--on", "node-2")


def test_list_says_whether_each_replica_is_followed(make_tenant, nodes):
    make_tenant("acme")
    run("replicate_tenant", "acme", "--on", "node-2", "--on", "node-3")
    primary = listed("acme")["primary"]["position"]
    ReplicaPlacement.objects.filter(node="node-2").update(
        epoch=0, position=primary, reported_at=timezone.now()
    )
    # node-3's supervisor stopped following it (nobody read it there lately)
    ReplicaPlacement.objects.filter(node="node-3").update(reported_at=timezone.now())
    assert [r["following"] for r in listed("acme")["replicas"]] == [True, False]
    text = run("list_tenants")
    assert f"node-2 at {primary}, node-3 not following (not read lately)" in text
    long_ago = timezone.now() - timedelta(minutes=5)
    ReplicaPlacement.objects.filter(node="node-2").update(reported_at=long_ago)
    assert [r["following"] for r in listed("acme")["replicas"]] == [False, False]
    assert "node-2 silent since" in run("list_tenants")
