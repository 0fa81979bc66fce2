"""The single-database baseline of bench/pages.py, counting its requests as Quire does.

``TenantMiddleware`` counts every request it serves (usage metering). The baseline puts
``bench.pages_settings.SingleWorkspaceMiddleware`` in its place, so it counts them the
same way: the tenancy tax then compares tenancy, not metering against none.
"""

from typing import Any

from django.conf import settings

from apps.tenancy.metering import count_request
from bench.pages_settings import SingleWorkspaceMiddleware


class CountingWorkspaceMiddleware(SingleWorkspaceMiddleware):
    """The one workspace, active for the request, the request counted at its end."""

    def __call__(self, request: Any) -> Any:
        try:
            return super().__call__(request)
        finally:
            if settings.QUIRE_USAGE_METERING:
                count_request(self.tenant)
