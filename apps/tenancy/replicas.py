"""Where a tenant's read replicas live: placements in the catalog, one per node.

A tenant's primary is its home node (``Tenant.home_node``); an operator places read
replicas of it on other nodes. Each node's replica supervisor keeps the replicas placed
on it current and reports their commit positions here.
"""

from __future__ import annotations

import sqlite3
import time

from django.conf import settings
from django.db import IntegrityError

from apps.tenancy.bookmarks import Bookmark, bookmark_of
from apps.tenancy.databases import replica_path
from apps.tenancy.exceptions import InvalidTenantState
from apps.tenancy.models import ReplicaPlacement, Tenant

POLL_SECONDS = 0.02


def tenant_replica_place(*, tenant: Tenant, node: str) -> ReplicaPlacement:
    """Place a read replica of the tenant on a node; placing it twice changes nothing."""
    _check_node(tenant, node)
    try:
        placement, _created = ReplicaPlacement.objects.get_or_create(tenant=tenant, node=node)
    except IntegrityError:  # placed by someone else at the same moment
        placement = ReplicaPlacement.objects.get(tenant=tenant, node=node)
    return placement


def tenant_replica_remove(*, tenant: Tenant, node: str) -> bool:
    """Remove the tenant's replica from a node; return False if it had none there."""
    deleted, _by_model = ReplicaPlacement.objects.filter(tenant=tenant, node=node).delete()
    return bool(deleted)


def replica_list(*, tenant: Tenant) -> list[ReplicaPlacement]:
    """Return the tenant's replica placements, by node."""
    return list(ReplicaPlacement.objects.filter(tenant=tenant).order_by("node"))


def _check_node(tenant: Tenant, node: str) -> None:
    if not tenant.has_database:
        raise InvalidTenantState(f"'{tenant.slug}' is {tenant.status}; it has no data to copy.")
    home = tenant.home_node or settings.QUIRE_NODE_ID
    if node == home:
        raise InvalidTenantState(f"{node} is the primary of '{tenant.slug}', not a replica.")
    if node not in settings.QUIRE_NODES:
        known = ", ".join(sorted(set(settings.QUIRE_NODES) - {home})) or "none"
        raise InvalidTenantState(f"Unknown node {node!r}; other nodes: {known} (QUIRE_NODES).")


# Serving reads from this node's replica ------------------------------------------------


def replica_placed_here(*, tenant: Tenant) -> bool:
    """Return True if this node holds a replica of the tenant and its file is here."""
    placed = ReplicaPlacement.objects.filter(tenant_id=tenant.pk, node=settings.QUIRE_NODE_ID)
    return placed.exists() and replica_path(tenant.slug).is_file()


def replica_reached(*, slug: str, wanted: Bookmark | None) -> bool:
    """Return True once the local replica has reached a bookmark (at once without one).

    Waits up to QUIRE_REPLICA_WAIT_MS for the replica to catch up; a replica that cannot
    be read counts as behind, so the primary serves the read. It is read even without a
    bookmark: damage found later, outside the view (a session loaded by middleware),
    could no longer be handed to the primary.
    """
    deadline = time.monotonic() + settings.QUIRE_REPLICA_WAIT_MS / 1000
    while True:
        reached = replica_bookmark(slug=slug)
        if reached is not None and (wanted is None or reached >= wanted):
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(POLL_SECONDS)


def replica_bookmark(*, slug: str) -> Bookmark | None:
    """Return how far this node's replica of a tenant has come; None if absent or unreadable."""
    path = replica_path(slug)
    try:
        return bookmark_of(path) if path.is_file() else None
    except sqlite3.Error:  # being swapped, or damaged
        return None
