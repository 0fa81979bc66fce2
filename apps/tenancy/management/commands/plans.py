from __future__ import annotations

import json
from typing import Any

from django.core.management.base import CommandError, CommandParser

from apps.tenancy.management.base import TenantCommand
from apps.tenancy.metering import QUOTA_KINDS, QUOTA_NAMES, plan_define, tenant_set_plan
from apps.tenancy.models import Plan, TenantPlan


class Command(TenantCommand):
    help = (
        "Plans and their monthly quotas (rows read, rows written, API calls; UTC calendar "
        "months). 'plans' lists them with their workspaces; 'plans define NAME "
        "[--rows-read N] [--rows-written N] [--api-calls N]' creates or changes one (a "
        "quota left out is unlimited); 'plans assign SLUG NAME' puts a workspace on a plan, "
        "'plans assign SLUG --none' takes it off (no quotas). Running processes apply a "
        "change within QUIRE_USAGE_QUOTA_REFRESH_SECONDS."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--json", action="store_true", help="List as a JSON array.")
        actions = parser.add_subparsers(dest="action")
        define = actions.add_parser("define", help="Create or change a plan.")
        define.add_argument("name")
        for kind in QUOTA_KINDS:
            define.add_argument(f"--{kind.replace('_', '-')}", type=int, default=None)
        assign = actions.add_parser("assign", help="Put a workspace on a plan.")
        assign.add_argument("slug")
        assign.add_argument("name", nargs="?")
        assign.add_argument("--none", action="store_true", help="No plan: no quotas.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["action"] == "define":
            plan = plan_define(
                name=options["name"], **{kind: options[kind] for kind in QUOTA_KINDS}
            )
            self.stdout.write(self.style.SUCCESS(f"Plan {describe(plan)}."))
        elif options["action"] == "assign":
            self.assign(options)
        else:
            self.list(as_json=options["json"])

    def assign(self, options: dict[str, Any]) -> None:
        if bool(options["name"]) == bool(options["none"]):
            raise CommandError("Name a plan, or say --none (no quotas).")
        tenant = self.tenant(options["slug"])
        tenant_set_plan(tenant=tenant, plan_name=options["name"])
        on = f"plan '{options['name']}'" if options["name"] else "no plan (no quotas)"
        self.stdout.write(self.style.SUCCESS(f"'{tenant.slug}' is on {on}."))

    def list(self, *, as_json: bool) -> None:
        members: dict[int, list[str]] = {}
        for choice in TenantPlan.objects.select_related("tenant").order_by("tenant__slug"):
            members.setdefault(choice.plan_id, []).append(choice.tenant.slug)
        plans = list(Plan.objects.all())
        if as_json:
            rows = [
                {
                    "name": plan.name,
                    **{kind: getattr(plan, f"{kind}_per_month") for kind in QUOTA_KINDS},
                    "workspaces": members.get(plan.pk, []),
                }
                for plan in plans
            ]
            self.stdout.write(json.dumps(rows, indent=2))
            return
        if not plans:
            self.stdout.write("No plans. Define one with: plans define NAME --rows-written N")
        for plan in plans:
            workspaces = ", ".join(members.get(plan.pk, [])) or "-"
            self.stdout.write(f"{describe(plan)}; workspaces: {workspaces}")


def describe(plan: Plan) -> str:
    """Return "free: rows read 1,000,000, rows written 10,000, API calls unlimited"."""
    quotas = []
    for kind in QUOTA_KINDS:
        value = getattr(plan, f"{kind}_per_month")
        quotas.append(f"{QUOTA_NAMES[kind]} {'unlimited' if value is None else f'{value:,}'}")
    return f"{plan.name}: {', '.join(quotas)} a month"
