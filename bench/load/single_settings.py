"""Quire configured for ONE workspace whose file is the only database: no tenant switching.

The baseline bench/load/run.py compares the multi-tenant set-up against.
"""

import os

from config.settings.production import *  # noqa: F403
from config.settings.production import MIDDLEWARE

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["QUIRE_SINGLE_DATABASE"],
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 5,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        },
        "CONN_MAX_AGE": None,
    }
}
DATABASE_ROUTERS: list[str] = []
MIDDLEWARE = [
    "bench.load.single_settings.FixedWorkspaceMiddleware"
    if name.endswith("TenantMiddleware")
    else name
    for name in MIDDLEWARE
]


class FixedWorkspaceMiddleware:
    """Give templates the one workspace, as TenantMiddleware would, without any lookup."""

    def __init__(self, get_response):
        from apps.tenancy.models import Tenant

        self.get_response = get_response
        self.tenant = Tenant(slug="single", name="Single workspace", status="active")

    def __call__(self, request):
        request.tenant = self.tenant
        return self.get_response(request)
