"""A log filter that adds the tenant slug and the request id to every record."""

from __future__ import annotations

import logging

from apps.core.requestid import get_request_id
from apps.tenancy.context import get_current_tenant


class RequestContextFilter(logging.Filter):
    """Set record.tenant (the active tenant's slug, or '-') and record.request_id."""

    def filter(self, record: logging.LogRecord) -> bool:
        tenant = get_current_tenant()
        record.tenant = tenant.slug if tenant is not None else "-"
        record.request_id = get_request_id()
        return True
