"""Which replicas a node follows: those read (or placed) lately, the most recent first.

The followers here are stand-ins (a `sleep` process and a copy of the primary, ready at
once): what is tested is the supervisor's choice, its heartbeat and its clean-up. The
real Litestream followers are in tests/replication.
"""

from __future__ import annotations

import os
import subprocess
import time
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.tenancy.models import ReplicaPlacement, Tenant
from apps.tenancy.nodes import supervisor as supervision
from apps.tenancy.nodes.replicas import (
    heartbeat,
    note_read,
    read_marker,
    replica_live,
    tenant_replica_place,
    tenant_replica_remove,
)
from apps.tenancy.nodes.supervisor import Follower, Supervisor, chosen
from apps.tenancy.routing.databases import copy_database, database_path, release_all, replica_path

SLUGS = ("alfa", "bravo", "charlie")


def stand_in(slug: str) -> Follower:
    """A follower that is ready at once and does nothing: a copy and a sleeping process."""
    folder = replica_path(slug).parent
    folder.mkdir(parents=True, exist_ok=True)
    generation = folder / f"{slug}.{time.time_ns()}.sqlite3"
    copy_database(database_path(slug), generation)
    Path(f"{generation}-txid").write_text("1\n")
    process = subprocess.Popen(["sleep", "600"])  # noqa: S607 (coreutils)
    return Follower(slug, generation, process)


@pytest.fixture
def node_two(make_tenant, settings, monkeypatch):
    """Three workspaces homed on node-1, placed long ago on node-2, where this runs."""
    settings.QUIRE_NODES = {"node-1": "127.0.0.1:9", "node-2": "127.0.0.1:9"}
    settings.QUIRE_REPLICA_IDLE_SECONDS = 600
    settings.QUIRE_REPLICA_MAX_FOLLOWERS = 2
    settings.QUIRE_REPLICA_READ_MARK_SECONDS = 0
    for slug in SLUGS:
        make_tenant(slug)
    release_all()
    Tenant.objects.update(home_node="node-1")
    for tenant in Tenant.objects.all():
        tenant_replica_place(tenant=tenant, node="node-2")
    ReplicaPlacement.objects.update(placed_at=timezone.now() - timedelta(hours=1))
    settings.QUIRE_NODE_ID = "node-2"
    monkeypatch.setattr(supervision, "start_follower", stand_in)
    supervisor = Supervisor()
    try:
        yield supervisor
    finally:
        supervisor.stop_all()


def read_at(slug: str, seconds_ago: float) -> None:
    note_read(slug)
    when = time.time() - seconds_ago
    os.utime(read_marker(slug), (when, when))


def files(slug: str) -> list[str]:
    folder = replica_path(slug).parent
    return sorted(p.name for p in folder.iterdir() if p.name.split(".")[0] == slug)


def test_nothing_is_followed_until_it_is_read(node_two):
    node_two.step()
    assert node_two.followers == {}
    assert not any(replica_live(slug=slug) for slug in SLUGS)
    placements = ReplicaPlacement.objects.all()
    assert all(p.position is None and p.reported_at is not None for p in placements)


def test_a_read_wakes_a_follower_whose_heartbeat_then_lets_the_replica_serve(node_two):
    read_at("bravo", 0)
    node_two.step()  # started
    assert set(node_two.followers) == {"bravo"}
    assert not replica_live(slug="bravo")  # not published yet: not served
    node_two.step()  # published, and its heartbeat beats
    assert replica_live(slug="bravo")
    placement = ReplicaPlacement.objects.get(tenant__slug="bravo")
    assert placement.position is not None


def test_at_most_the_cap_the_most_recently_read_and_the_idle_are_stopped(node_two, settings):
    read_at("alfa", 30)
    read_at("bravo", 20)
    node_two.step()
    node_two.step()
    assert set(node_two.followers) == {"alfa", "bravo"}
    alfa = node_two.followers["alfa"].process
    read_at("charlie", 0)  # over the cap of 2: alfa, the least recently read, goes
    node_two.step()
    node_two.step()
    assert set(node_two.followers) == {"bravo", "charlie"}
    assert alfa.wait(timeout=10) is not None
    assert not replica_live(slug="alfa")
    assert files("alfa") == ["alfa.read"]  # the replica's files are gone, the read noted
    assert ReplicaPlacement.objects.get(tenant__slug="alfa").position is None

    read_at("alfa", 601)  # both idle longer than QUIRE_REPLICA_IDLE_SECONDS
    read_at("bravo", 601)
    node_two.step()
    assert set(node_two.followers) == {"charlie"}
    assert files("bravo") == ["bravo.read"]


def test_a_fresh_placement_is_followed_before_anyone_reads_it(node_two):
    tenant = Tenant.objects.get(slug="alfa")
    tenant_replica_remove(tenant=tenant, node="node-2")
    tenant_replica_place(tenant=tenant, node="node-2")  # placed now
    node_two.step()
    assert set(node_two.followers) == {"alfa"}


def test_a_placement_removed_takes_its_follower_its_files_and_its_read_marker(node_two):
    read_at("alfa", 0)
    node_two.step()
    node_two.step()
    assert replica_live(slug="alfa")
    process = node_two.followers["alfa"].process
    tenant_replica_remove(tenant=Tenant.objects.get(slug="alfa"), node="node-2")
    node_two.step()
    assert "alfa" not in node_two.followers
    assert process.wait(timeout=10) is not None
    assert files("alfa") == []


def test_a_dead_follower_stops_its_replica_being_served_at_once(node_two):
    read_at("alfa", 0)
    node_two.step()
    node_two.step()
    assert heartbeat("alfa").exists()
    node_two.followers["alfa"].process.kill()
    node_two.followers["alfa"].process.wait()
    node_two.step()  # noticed: the heartbeat goes, a new follower starts
    assert not replica_live(slug="alfa")


def test_what_a_supervisor_left_behind_is_cleared_at_start(node_two):
    read_at("alfa", 0)
    node_two.step()
    node_two.step()
    node_two.followers["alfa"].process.kill()  # the supervisor died with it
    node_two.followers["alfa"].process.wait()
    node_two.followers.clear()
    read_at("alfa", 601)
    Supervisor().step()
    assert files("alfa") == ["alfa.read"]


def test_the_choice_ranks_by_the_latest_of_read_and_placed(settings):
    now = 10_000.0
    placed = {"a": now - 5000, "b": now - 5000, "c": now - 10}
    reads = {"a": now - 1, "b": now - 900}
    settings.QUIRE_REPLICA_IDLE_SECONDS = 600
    settings.QUIRE_REPLICA_MAX_FOLLOWERS = 1
    assert chosen(placed, reads, now) == {"a"}
    settings.QUIRE_REPLICA_MAX_FOLLOWERS = 5
    assert chosen(placed, reads, now) == {"a", "c"}


def test_a_supervisor_slower_than_the_heartbeat_bound_is_refused(settings):
    from django.core.management import CommandError, call_command

    settings.QUIRE_REPLICA_HEARTBEAT_SECONDS = 5
    with pytest.raises(CommandError, match="too slow for QUIRE_REPLICA_HEARTBEAT_SECONDS"):
        call_command("replica_supervisor", "--interval", "5")
