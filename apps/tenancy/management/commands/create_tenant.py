from __future__ import annotations

import secrets
from typing import Any

from django.core.management.base import CommandParser

from apps.tenancy.fleet.services import tenant_create
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.routing.urls import tenant_url


class Command(TenantCommand):
    help = "Create a workspace from the template database, with an admin user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("slug", help="Subdomain of the workspace, e.g. 'acme'.")
        parser.add_argument("--name", required=True, help="Display name of the workspace.")
        parser.add_argument("--admin-email", required=True, help="E-mail of the first admin.")
        parser.add_argument(
            "--admin-password",
            help="Password of the first admin (default: a random one, printed).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        password = options["admin_password"] or secrets.token_urlsafe(12)
        tenant = tenant_create(
            slug=options["slug"],
            name=options["name"],
            admin_email=options["admin_email"],
            admin_password=password,
        )
        self.stdout.write(self.style.SUCCESS(f"Created workspace '{tenant.slug}'."))
        self.stdout.write(f"URL:      {tenant_url(tenant.slug)}")
        self.stdout.write(f"Admin:    {options['admin_email']}")
        if not options["admin_password"]:
            self.stdout.write(f"Password: {password}")
