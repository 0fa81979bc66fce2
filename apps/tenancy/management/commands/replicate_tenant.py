from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.management.base import TenantCommand
from apps.tenancy.nodes.replicas import replica_list, tenant_replica_place, tenant_replica_remove


class Command(TenantCommand):
    help = (
        "Place read replicas of a workspace on other nodes (--on NODE, repeatable), or take "
        "them away with --remove. Each node's replica supervisor follows the change. Prints "
        "the workspace's primary and replicas."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument(
            "--on",
            dest="nodes",
            action="append",
            required=True,
            metavar="NODE",
            help="A node of QUIRE_NODES other than the primary; repeat for several.",
        )
        parser.add_argument(
            "--remove", action="store_true", help="Remove the replicas from these nodes."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        tenant = self.tenant(options["slug"])
        for node in options["nodes"]:
            if not options["remove"]:
                tenant_replica_place(tenant=tenant, node=node)
                self.stdout.write(self.style.SUCCESS(f"'{tenant.slug}' has a replica on {node}."))
            elif tenant_replica_remove(tenant=tenant, node=node):
                self.stdout.write(self.style.SUCCESS(f"Removed the replica on {node}."))
            else:
                self.stdout.write(f"'{tenant.slug}' had no replica on {node}.")
        nodes = ", ".join(placement.node for placement in replica_list(tenant=tenant)) or "none"
        self.stdout.write(f"Primary: {tenant.home_node or '(this node)'}; replicas: {nodes}")
