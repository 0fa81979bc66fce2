"""Create or revoke a token for a workspace's database over HTTP."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.sqlapi.models import DatabaseToken
from apps.sqlapi.selectors import database_path_url, database_url
from apps.sqlapi.services import MAX_EXPIRY_DAYS, TokenError, token_create, token_revoke
from apps.tenancy.fleet.selectors import tenant_get


class Command(BaseCommand):
    help = (
        "Print a workspace's database URL and a new token for it (shown once), "
        "or revoke a token with --revoke NAME."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="The workspace's subdomain.")
        parser.add_argument("--read-only", action="store_true", help="A token that cannot write.")
        parser.add_argument(
            "--expires",
            type=int,
            metavar="DAYS",
            help=f"Expire after DAYS days (1 to {MAX_EXPIRY_DAYS}; default: never).",
        )
        parser.add_argument("--name", help="The token's name (default: cli-<n>).")
        parser.add_argument("--revoke", metavar="NAME", help="Revoke the live token NAME.")
        parser.add_argument("--json", action="store_true", help="Print JSON for scripts.")

    def handle(self, *args: Any, **options: Any) -> None:
        unused = [
            flag for flag in ("read_only", "expires", "name") if options[flag] not in (None, False)
        ]
        if options["revoke"] and unused:
            given = ", ".join("--" + flag.replace("_", "-") for flag in unused)
            raise CommandError(
                f"--revoke takes only the token's name; {given} belong to a new token."
            )
        tenant = tenant_get(slug=options["slug"])
        if tenant is None or not tenant.has_database:
            raise CommandError(f"No workspace '{options['slug']}'.")
        try:
            if options["revoke"]:
                token_revoke(tenant=tenant, name=options["revoke"])
                self._say(options, {"revoked": options["revoke"]}, "Revoked")
                return
            token, raw = token_create(
                tenant=tenant,
                name=options["name"] or _default_name(tenant.pk),
                read_only=options["read_only"],
                expires_days=options["expires"],
                created_by="manage.py db_token",
            )
        except TokenError as exc:
            raise CommandError(str(exc)) from None
        result = {
            "url": database_url(tenant.slug),
            "path_url": database_path_url(tenant.slug),
            "token": raw,
            "name": token.name,
            "read_only": token.read_only,
            "expires_at": token.expires_at.isoformat() if token.expires_at else None,
        }
        if options["json"]:
            self.stdout.write(json.dumps(result))
            return
        access = "read-only" if token.read_only else "read-write"
        self.stdout.write(self.style.SUCCESS(f"Token '{token.name}' ({access}), shown once:"))
        self.stdout.write(f"url:      {result['url']}")
        self.stdout.write(f"path url: {result['path_url']}")
        self.stdout.write(f"token:    {raw}")

    def _say(self, options: dict[str, Any], payload: dict[str, str], verb: str) -> None:
        if options["json"]:
            self.stdout.write(json.dumps(payload))
        else:
            self.stdout.write(self.style.SUCCESS(f"{verb} token '{options['revoke']}'."))


def _default_name(tenant_id: int) -> str:
    return f"cli-{DatabaseToken.objects.filter(tenant_id=tenant_id).count() + 1}"
