"""The replica supervisor keeps a node's read replicas current with Litestream followers."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from apps.posts.models import Post
from apps.tenancy.models import ReplicaPlacement, Tenant
from apps.tenancy.nodes import replicapool
from apps.tenancy.nodes.bookmarks import Bookmark, bookmark_of
from apps.tenancy.nodes.replicas import (
    note_read,
    replica_live,
    tenant_replica_place,
    tenant_replica_remove,
)
from apps.tenancy.nodes.supervisor import Supervisor, generations
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import (
    database_path,
    park_replica,
    release_all,
    replica_path,
    replica_reads,
)
from tests.replication.test_replication import write_posts

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def tight(settings) -> None:
    settings.QUIRE_REPLICA_MONITOR_INTERVAL = "100ms"
    settings.QUIRE_REPLICA_SYNC_INTERVAL = "100ms"
    settings.QUIRE_REPLICA_FOLLOW_INTERVAL = "100ms"
    settings.QUIRE_NODES = {"node-1": "127.0.0.1:9", "node-2": "127.0.0.1:9"}


@contextmanager
def on_node(settings, node: str, folder: Path) -> Iterator[None]:
    """Be another node of the same fleet for a while: its id and its tenants folder."""
    saved = settings.QUIRE_NODE_ID, settings.TENANTS_DATA_DIR
    release_all()
    settings.QUIRE_NODE_ID, settings.TENANTS_DATA_DIR = node, folder
    try:
        yield
    finally:
        release_all()
        settings.QUIRE_NODE_ID, settings.TENANTS_DATA_DIR = saved


def run_until(supervisor: Supervisor, condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + 30
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        supervisor.step()
        time.sleep(0.1)


def reached(slug: str, mark: Bookmark) -> Callable[[], bool]:
    def check() -> bool:
        if not replica_path(slug).is_file():
            return False
        replica = bookmark_of(replica_path(slug))
        return replica is not None and replica >= mark

    return check


def test_a_placed_replica_follows_the_primary_and_is_dropped_when_removed(
    make_tenant, litestream, tight, settings, tmp_path
):
    tenant = make_tenant("acme")  # on node-1, replicated by Litestream
    write_posts(tenant, 5, "first")
    release_all()
    primary = bookmark_of(database_path("acme"))
    supervisor = Supervisor()
    try:
        with on_node(settings, "node-2", tmp_path / "node-2"):
            tenant_replica_place(tenant=tenant, node="node-2")
            run_until(supervisor, reached("acme", primary), "the first replica")
            assert replica_path("acme").is_symlink()
        write_posts(tenant, 7, "more")  # the primary takes writes
        release_all()
        later = bookmark_of(database_path("acme"))
        with on_node(settings, "node-2", tmp_path / "node-2"):
            run_until(supervisor, reached("acme", later), "the replica to follow")
            supervisor.step()
            placement = ReplicaPlacement.objects.get(tenant=tenant, node="node-2")
            assert placement.position == later.position
            assert placement.reported_at is not None

            supervisor.followers["acme"].process.kill()  # a follower dies
            first = supervisor.followers["acme"].generation
            run_until(
                supervisor,
                lambda: (
                    "acme" in supervisor.followers
                    and supervisor.followers["acme"].published
                    and supervisor.followers["acme"].generation != first
                ),
                "a new generation",
            )
            assert bookmark_of(replica_path("acme")) >= later
            assert generations("acme") == [supervisor.followers["acme"].generation]
            assert replica_live(slug="acme")

            # Nobody reads it here: placed long ago, no read within the idle window.
            long_ago = timezone.now() - timedelta(hours=1)
            ReplicaPlacement.objects.filter(tenant=tenant).update(placed_at=long_ago)
            supervisor.step()
            assert "acme" not in supervisor.followers
            assert not replica_live(slug="acme")
            assert not replica_path("acme").exists()
        write_posts(tenant, 3, "while idle")
        release_all()
        latest = bookmark_of(database_path("acme"))
        with on_node(settings, "node-2", tmp_path / "node-2"):
            note_read("acme")  # a read wakes it
            run_until(
                supervisor,
                lambda: replica_live(slug="acme") and reached("acme", latest)(),
                "the woken replica",
            )

            tenant_replica_remove(tenant=Tenant.objects.get(slug="acme"), node="node-2")
            process = supervisor.followers["acme"].process
            supervisor.step()
            assert "acme" not in supervisor.followers
            assert process.poll() is not None
            assert not replica_path("acme").exists()
            assert generations("acme") == []
    finally:
        supervisor.stop_all()


def replica_posts(tenant: Tenant) -> int:
    """Count the posts on this node's replica, on a kept connection as a request would."""
    with tenant_context(tenant), replica_reads(tenant.slug):
        count = Post.objects.count()
    park_replica(tenant.slug)
    return count


def test_kept_read_connections_neither_stall_the_follower_nor_read_stale_pages(
    make_tenant, litestream, tight, settings, tmp_path
):
    tenant = make_tenant("acme")
    write_posts(tenant, 2, "first")
    release_all()
    primary = bookmark_of(database_path("acme"))
    supervisor = Supervisor()
    try:
        with on_node(settings, "node-2", tmp_path / "node-2"):
            tenant_replica_place(tenant=tenant, node="node-2")
            run_until(supervisor, reached("acme", primary), "the first replica")
            replica = sqlite3.connect(f"file:{replica_path('acme')}?mode=ro", uri=True)
            assert replica.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
            replica.close()
            assert replica_posts(tenant) == 2
            assert replicapool.kept_count() == 1
        for round_ in range(5):
            write_posts(tenant, 1, f"round-{round_}")  # on the primary
            release_all()
            mark = bookmark_of(database_path("acme"))
            with on_node(settings, "node-2", tmp_path / "node-2"):
                run_until(supervisor, reached("acme", mark), "the follower, past a kept reader")
                assert replica_posts(tenant) == 3 + round_
                assert replicapool.kept_count() == 1
    finally:
        supervisor.stop_all()
        replicapool.close_all()
