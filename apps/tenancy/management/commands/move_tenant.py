from __future__ import annotations

from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.fleet.services import tenant_move
from apps.tenancy.management.base import TenantCommand


class Command(TenantCommand):
    help = (
        "Move a workspace to another node. Run it on the workspace's home node, with "
        "replication on: writes stop briefly (clients get a retryable 503), Litestream ships "
        "the last writes, the catalog names the new home, and the target fetches the "
        "database from the replica on its first request. Then regenerate the proxy map."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--to", dest="node", required=True, metavar="NODE")

    def handle(self, *args: Any, **options: Any) -> None:
        paused = tenant_move(tenant=self.tenant(options["slug"]), to_node=options["node"])
        self.stdout.write(self.style.SUCCESS(f"Moved '{options['slug']}' to {options['node']}."))
        self.stdout.write(f"Writes paused for {paused:.2f} s.")
