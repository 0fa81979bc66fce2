from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from django.core.management.base import CommandError, CommandParser

from apps.tenancy.fleet.services import RestoreResult, tenant_restore, tenant_restore_from_replica
from apps.tenancy.management.base import TenantCommand


class Command(TenantCommand):
    help = (
        "Restore a workspace from a SQLite file or SQL dump (--from FILE), or from its "
        "Litestream replica (--from-replica, latest or --timestamp/--txid; --as NEW_SLUG "
        "restores into a new workspace, a branch). The copy must pass PRAGMA integrity_check "
        "and have no migration unknown to this code; pending ones are applied. An existing "
        "workspace's file is copied to the trash for undo, then overwritten in one transaction "
        "(replicas follow); a missing or damaged one is replaced. An unknown slug becomes a "
        "new workspace."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug")
        source = parser.add_mutually_exclusive_group(required=True)
        source.add_argument("--from", dest="source", type=Path, metavar="FILE")
        source.add_argument("--from-replica", action="store_true")
        point = parser.add_mutually_exclusive_group()
        point.add_argument("--timestamp", help="ISO 8601 time, e.g. 2026-11-24T07:40:00Z")
        point.add_argument("--txid", help="Transaction id (hexadecimal, as Litestream shows it)")
        parser.add_argument(
            "--as", dest="target", metavar="NEW_SLUG", help="Restore into this new workspace."
        )
        parser.add_argument("--name", help="Display name, when the restore creates a workspace.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["source"] is not None:
            if options["timestamp"] or options["txid"] or options["target"]:
                raise CommandError("--timestamp, --txid and --as go with --from-replica.")
            result = tenant_restore(
                slug=options["slug"], source=options["source"], name=options["name"]
            )
            self.report(result, str(options["source"]))
            return
        result = tenant_restore_from_replica(
            slug=options["slug"],
            target_slug=options["target"],
            timestamp=self.parse_time(options["timestamp"]),
            txid=self.parse_txid(options["txid"]),
            name=options["name"],
        )
        self.report(result, f"the replica of '{options['slug']}'")

    def report(self, result: RestoreResult, source: str) -> None:
        verb = "Created" if result.created else "Restored"
        self.stdout.write(self.style.SUCCESS(f"{verb} '{result.tenant.slug}' from {source}."))
        if result.migrated:
            self.stdout.write(f"Applied {len(result.migrated)} pending migration(s) to the copy.")
        if result.replaced is not None:
            self.stdout.write(f"The replaced files are kept in {result.replaced}")

    def parse_time(self, value: str | None) -> datetime | None:
        if value is None:
            return None
        try:
            moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            raise CommandError(f"--timestamp {value!r} is not an ISO 8601 time.") from None
        return moment.astimezone(UTC) if moment.tzinfo else moment.replace(tzinfo=UTC)

    def parse_txid(self, value: str | None) -> int | None:
        if value is None:
            return None
        try:
            return int(value, 16)
        except ValueError:
            raise CommandError(f"--txid {value!r} is not a hexadecimal transaction id.") from None
