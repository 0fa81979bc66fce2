"""An in-place restore of the primary reaches its read replicas, through Litestream."""

from __future__ import annotations

import pytest

from apps.tenancy.fleet.services import tenant_backup, tenant_restore
from apps.tenancy.nodes.bookmarks import bookmark_of
from apps.tenancy.nodes.replicas import tenant_replica_place
from apps.tenancy.nodes.supervisor import Supervisor
from apps.tenancy.routing.databases import database_path, release_all, replica_path
from tests.replication.test_replica_supervisor import on_node, reached, run_until
from tests.replication.test_replica_supervisor import tight as tight
from tests.replication.test_replication import write_posts

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_replica_follows_an_in_place_restore_of_the_primary(
    make_tenant, litestream, tight, settings, tmp_path
):
    """After an in-place restore the primary is on a new epoch; the replica gets there.

    The restore writes into the live file as one transaction, so Litestream ships it
    like any write and the follower applies it.
    """
    tenant = make_tenant("acme")
    backup = tenant_backup(tenant=tenant, destination=tmp_path / "early.sqlite3")
    write_posts(tenant, 5, "before")
    release_all()
    primary = bookmark_of(database_path("acme"))
    node_two = tmp_path / "node-2"
    supervisor = Supervisor()
    try:
        with on_node(settings, "node-2", node_two):
            tenant_replica_place(tenant=tenant, node="node-2")
            run_until(supervisor, reached("acme", primary), "the first replica")
        tenant_restore(slug="acme", source=backup)
        release_all()
        write_posts(tenant, 2, "after")
        release_all()
        restored = bookmark_of(database_path("acme"))
        assert restored.epoch > primary.epoch
        with on_node(settings, "node-2", node_two):
            run_until(supervisor, reached("acme", restored), "the replica on the new epoch")
            assert bookmark_of(replica_path("acme")) >= restored
    finally:
        supervisor.stop_all()
