from __future__ import annotations

from pathlib import Path
from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.management.base import TenantCommand
from apps.tenancy.services import tenant_restore


class Command(TenantCommand):
    help = (
        "Restore a workspace from a SQLite file or SQL dump. The file must pass "
        "PRAGMA integrity_check and have no migration unknown to this code; pending ones are "
        "applied. An existing workspace's files go to the trash for undo; an unknown slug "
        "becomes a new workspace."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        parser.add_argument("--from", dest="source", type=Path, required=True, metavar="FILE")
        parser.add_argument("--name", help="Display name, when the restore creates a workspace.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = tenant_restore(
            slug=options["slug"], source=options["source"], name=options["name"]
        )
        verb = "Created" if result.created else "Restored"
        self.stdout.write(
            self.style.SUCCESS(f"{verb} '{result.tenant.slug}' from {options['source']}.")
        )
        if result.migrated:
            self.stdout.write(f"Applied {len(result.migrated)} pending migration(s) to the copy.")
        if result.replaced is not None:
            self.stdout.write(f"The replaced files are kept in {result.replaced}")
