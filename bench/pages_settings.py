"""Settings of bench/pages.py: Quire's production settings plus the two baselines' databases.

``single``: the file of ``bench.load.single_settings`` (Quire on ONE database), swapped in
as the default connection while that mode runs. ``bare``: the bare page's file
(``bench.bare_page``). The environment is set by bench/pages.py.
"""

import os

from bench.load import single_settings
from config.settings.production import *  # noqa: F403
from config.settings.production import DATABASES

DATABASES = {
    **DATABASES,
    "single": single_settings.DATABASES["default"],
    "bare": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ["QUIRE_BARE_DATABASE"],
        "OPTIONS": {
            "transaction_mode": "IMMEDIATE",
            "timeout": 5,
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL",
        },
        "CONN_MAX_AGE": None,
    },
}

# The single-database mode: single_settings' middleware, its fixed workspace also made the
# current tenant, so the unit of work's cursor (the page cache's version read) finds it.
SINGLE_MIDDLEWARE = [
    "bench.pages_settings.SingleWorkspaceMiddleware"
    if name.endswith("FixedWorkspaceMiddleware")
    else name
    for name in single_settings.MIDDLEWARE
]


class SingleWorkspaceMiddleware(single_settings.FixedWorkspaceMiddleware):
    """single_settings' fixed workspace, active as the current tenant for the request."""

    def __call__(self, request):
        from apps.tenancy.routing.context import tenant_context

        with tenant_context(self.tenant):
            return super().__call__(request)
