"""Where a tenant's read replicas live: placements in the catalog, one per node.

A tenant's primary is its home node (``Tenant.home_node``); an operator places read
replicas of it on other nodes. Each node's replica supervisor keeps the replicas placed
on it current and reports their commit positions here.
"""

from __future__ import annotations

from django.conf import settings
from django.db import IntegrityError

from apps.tenancy.exceptions import InvalidTenantState
from apps.tenancy.models import ReplicaPlacement, Tenant


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
