from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.management.base import TenantCommand
from apps.tenancy.nodes.proxy import nginx_config


class Command(TenantCommand):
    help = (
        "Print the nginx routing built from the catalog: each workspace's host to its home "
        "node (QUIRE_NODES), the apex to the node with the fewest tenants. Include it in "
        "nginx's http block; write it again and reload nginx after moves and sign-ups."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--listen", default="80", help="nginx listen value (default 80).")
        parser.add_argument("-o", "--output", type=Path, help="Write it to this file.")

    def handle(self, *args: Any, **options: Any) -> None:
        text = nginx_config(listen=options["listen"])
        if options["output"] is None:
            self.stdout.write(text, ending="")
            return
        options["output"].write_text(text)
        self.stdout.write(self.style.SUCCESS(f"Wrote {options['output']}"))
