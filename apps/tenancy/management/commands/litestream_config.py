from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from django.core.management.base import CommandParser

from apps.tenancy.management.base import TenantCommand
from apps.tenancy.nodes.replication import litestream_binary, litestream_config


class Command(TenantCommand):
    help = (
        "Print the Litestream configuration built from settings (QUIRE_REPLICA_*, QUIRE_S3_*): "
        "the tenants folder, watched for new databases, and the catalog when it is SQLite. "
        "Run it with: litestream replicate -config FILE"
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("-o", "--output", type=Path, help="Write the YAML to this file.")

    def handle(self, *args: Any, **options: Any) -> None:
        litestream_binary()  # fail now, with the reason, if it is not installed
        text = yaml.safe_dump(litestream_config(), sort_keys=False)
        if options["output"] is None:
            self.stdout.write(text, ending="")
            return
        options["output"].write_text(text)
        options["output"].chmod(0o600)  # it may hold S3 keys
        self.stdout.write(self.style.SUCCESS(f"Wrote {options['output']}"))
