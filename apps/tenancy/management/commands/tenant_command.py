from __future__ import annotations

import argparse
import sqlite3
from typing import Any

from django.core.management import call_command, get_commands, load_command_class
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DatabaseError

from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.fleet.doctor import Health, health_from_error, tenant_opens
from apps.tenancy.fleet.selectors import tenant_list
from apps.tenancy.management.base import TenantCommand
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import tenant_context
from apps.tenancy.routing.databases import release_all, tenant_alias


class Command(TenantCommand):
    help = (
        "Run any Django command inside a tenant: "
        "tenant_command COMMAND --tenant SLUG [ARGS...], or --all-tenants to run it in each "
        "active tenant in turn. Commands with a --database option get the tenant's database. "
        "With --all-tenants, a tenant whose file is missing or does not open is skipped and "
        "named (with SQLite's reason), the others go on, and the command exits 1 at the end."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("command_name", metavar="COMMAND")
        parser.add_argument("--tenant", dest="slug", metavar="SLUG")
        parser.add_argument("--all-tenants", action="store_true")
        parser.add_argument("command_args", nargs=argparse.REMAINDER, metavar="ARGS")

    def handle(self, *args: Any, **options: Any) -> None:
        argv = self.take_tenant_options(list(options["command_args"]), options)
        command = self.load(options["command_name"])
        if options["all_tenants"] == bool(options["slug"]):
            raise CommandError("Give exactly one of --tenant SLUG or --all-tenants.")
        if options["slug"]:
            self.run_in(self.served(options["slug"]), command, argv)
            return
        self.run_everywhere(command, argv)

    def take_tenant_options(self, argv: list[str], options: dict[str, Any]) -> list[str]:
        """Pick --tenant SLUG and --all-tenants out of ARGS, wherever they stand."""
        rest = []
        tokens = iter(argv)
        for token in tokens:
            option, _, value = token.partition("=")
            if option == "--all-tenants":
                options["all_tenants"] = True
            elif option == "--tenant":
                options["slug"] = value or next(tokens, None)
                if not options["slug"]:
                    raise CommandError("--tenant needs a slug.")
            else:
                rest.append(token)
        return rest

    def load(self, name: str) -> BaseCommand:
        app_name = get_commands().get(name)
        if app_name is None:
            raise CommandError(f"Unknown command: '{name}'. See 'manage.py help'.")
        if isinstance(app_name, BaseCommand):
            return app_name
        return load_command_class(app_name, name)

    def served(self, slug: str) -> Tenant:
        tenant = self.tenant(slug)
        if not tenant.has_database:
            raise CommandError(f"'{slug}' is {tenant.status}; it has no database to run in.")
        return tenant

    def run_in(self, tenant: Tenant, command: BaseCommand, argv: list[str]) -> None:
        defaults: dict[str, Any] = {"stdout": self.stdout, "stderr": self.stderr}
        if self.takes_database(command) and not self.names_database(argv):
            defaults["database"] = tenant_alias(tenant.slug)
        try:
            with tenant_context(tenant):
                call_command(command, *argv, **defaults)
        finally:
            release_all()

    def run_everywhere(self, command: BaseCommand, argv: list[str]) -> None:
        failed: dict[str, str] = {}
        tenants = list(tenant_list(statuses=[Tenant.Status.ACTIVE]))
        for tenant in tenants:
            self.stdout.write(self.style.MIGRATE_HEADING(f"== {tenant.slug} =="))
            problem = self.run_or_problem(tenant, command, argv)
            if problem:
                self.stdout.write(self.style.ERROR(f"{tenant.slug}: FAILED: {problem}"))
                failed[tenant.slug] = problem
        self.stdout.write(f"Ran in {len(tenants) - len(failed)} of {len(tenants)} tenant(s).")
        if failed:
            lines = "\n".join(f"  {slug}: {problem}" for slug, problem in failed.items())
            raise CommandError(f"Failed in {len(failed)} tenant(s):\n{lines}")

    def run_or_problem(self, tenant: Tenant, command: BaseCommand, argv: list[str]) -> str:
        """Run the command in one tenant; return what went wrong, or "" if nothing did.

        A file that is missing or does not open is not handed to the command at all.
        """
        health = tenant_opens(tenant=tenant)
        if not health.ok:
            return str(health)
        try:
            self.run_in(tenant, command, argv)
        except (CommandError, ApplicationError, DatabaseError, sqlite3.Error) as exc:
            return self.describe_failure(tenant, exc)
        return ""

    def describe_failure(self, tenant: Tenant, error: BaseException) -> str:
        health: Health = health_from_error(slug=tenant.slug, error=error)
        return str(health) if health.is_damage else str(error)

    def takes_database(self, command: BaseCommand) -> bool:
        parser = command.create_parser("manage.py", "command")
        return any(action.dest == "database" for action in parser._actions)

    def names_database(self, argv: list[str]) -> bool:
        return any(arg == "--database" or arg.startswith("--database=") for arg in argv)
