"""Where a tenant's read replicas live: placements in the catalog, one per node.

A tenant's primary is its home node (``Tenant.home_node``); an operator places read
replicas of it on other nodes. Each node's replica supervisor keeps current the replicas
placed on it that are being read (``note_read``), and reports their commit positions here.

Two small files beside each replica tie the app and the supervisor together, without a
round trip to the catalog: ``.replicas/<slug>.read``, touched by the app when it is asked
to read the workspace (at most every QUIRE_REPLICA_READ_MARK_SECONDS per process), and
``.replicas/<slug>.live``, touched by the supervisor at every pass while the workspace's
follower runs and its replica is published. A replica is served from only while its
``.live`` is younger than QUIRE_REPLICA_HEARTBEAT_SECONDS.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import time
from pathlib import Path
from typing import cast

from django.conf import settings
from django.db import DatabaseError, IntegrityError, connections

from apps.tenancy.exceptions import InvalidTenantState, TenantDatabaseDamaged
from apps.tenancy.models import ReplicaPlacement, Tenant
from apps.tenancy.nodes.bookmarks import Bookmark, bookmark_of
from apps.tenancy.routing.databases import (
    TenantDatabaseWrapper,
    park_replica,
    replica_path,
    replica_reads,
    tenant_alias,
)

logger = logging.getLogger(__name__)
POLL_SECONDS = 0.02
READ_SUFFIX = ".read"
LIVE_SUFFIX = ".live"
_marked: dict[str, float] = {}  # read marker path -> when this process last touched it
_placed: dict[tuple[str, int, str], tuple[bool, float]] = {}  # -> (placed here?, when seen)


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
    """Return True if the catalog places a replica of the tenant on this node.

    The answer is kept per process for QUIRE_REPLICA_HEARTBEAT_SECONDS (no catalog round
    trip on every read): a placement removed meanwhile is not served from anyway, since
    its follower stops and its heartbeat goes with it.
    """
    key = (str(replica_path(tenant.slug)), tenant.pk, settings.QUIRE_NODE_ID)
    now = time.monotonic()
    seen = _placed.get(key)
    if seen is not None and now - seen[1] < settings.QUIRE_REPLICA_HEARTBEAT_SECONDS:
        return seen[0]
    placements = ReplicaPlacement.objects.filter(tenant_id=tenant.pk, node=key[2])
    placed = placements.exists()
    _placed[key] = (placed, now)
    return placed


def read_marker(slug: str) -> Path:
    """Return the file whose mtime says when this node was last asked to read the tenant."""
    return _beside(replica_path(slug), slug + READ_SUFFIX)


def heartbeat(slug: str) -> Path:
    """Return the file whose mtime says when the supervisor last saw the follower live."""
    return _beside(replica_path(slug), slug + LIVE_SUFFIX)


@functools.lru_cache(maxsize=2048)
def _beside(replica: Path, name: str) -> Path:
    return replica.with_name(name)  # built once: asked on every replica read


def note_read(slug: str) -> None:
    """Record that this node was asked to read a tenant: its follower runs (or starts).

    Touches the read marker at most every QUIRE_REPLICA_READ_MARK_SECONDS per process;
    a marker that cannot be written is logged, and the read goes on.
    """
    marker = read_marker(slug)
    key = str(marker)
    now = time.monotonic()
    last = _marked.get(key)
    if last is not None and now - last < settings.QUIRE_REPLICA_READ_MARK_SECONDS:
        return
    _marked[key] = now
    try:
        marker.parent.mkdir(parents=True, exist_ok=True)
        marker.touch()
    except OSError as exc:
        logger.warning("Could not note a read of %s's replica: %s", slug, exc)


def replica_live(*, slug: str) -> bool:
    """Return True if the tenant's replica is here and its follower reported lately."""
    try:
        age = time.time() - heartbeat(slug).stat().st_mtime
    except OSError:
        return False
    return age <= settings.QUIRE_REPLICA_HEARTBEAT_SECONDS and replica_path(slug).is_file()


def replica_reached(*, slug: str, wanted: Bookmark | None) -> bool:
    """Return True once the local replica has reached a bookmark (at once without one).

    Waits up to QUIRE_REPLICA_WAIT_MS for the replica to catch up; a replica that cannot
    be read, or whose follower stops reporting meanwhile, counts as behind, so the
    primary serves the read. It is read even without a bookmark: damage found later,
    outside the view (a session loaded by middleware), could no longer be handed to the
    primary. The position is read on the request's own replica connection, in the read
    transaction the request then reads in (one read transaction a request;
    ``finish_request`` ends it): what was checked is what is served. A look that falls
    short ends it, so that the next look sees the replica's newer state.
    """
    deadline = time.monotonic() + settings.QUIRE_REPLICA_WAIT_MS / 1000
    while True:
        reached = _request_bookmark(slug)
        if reached is not None and (wanted is None or reached >= wanted):
            return True
        park_replica(slug)
        if time.monotonic() >= deadline or not replica_live(slug=slug):
            return False
        time.sleep(POLL_SECONDS)


def _request_bookmark(slug: str) -> Bookmark | None:
    """Return the state this thread's replica connection reads; None if absent or unreadable."""
    if not replica_path(slug).is_file():
        return None
    try:
        with replica_reads(slug):
            wrapper = cast(TenantDatabaseWrapper, connections[tenant_alias(slug)])
            position = wrapper.replica_position()
    except (DatabaseError, sqlite3.Error, TenantDatabaseDamaged):  # being swapped, or damaged
        return None
    return Bookmark(*position) if position is not None else None


def replica_bookmark(*, slug: str) -> Bookmark | None:
    """Return how far this node's replica of a tenant has come; None if absent or unreadable."""
    path = replica_path(slug)
    try:
        return bookmark_of(path) if path.is_file() else None
    except sqlite3.Error:  # being swapped, or damaged
        return None
