"""A log filter that adds the tenant slug and request id, and masks link tokens."""

from __future__ import annotations

import logging

from apps.core.redaction import redact
from apps.core.requestid import get_request_id
from apps.tenancy.routing.context import get_current_tenant


class RequestContextFilter(logging.Filter):
    """Set record.tenant (the active tenant's slug, or '-') and record.request_id.

    Paths in the record's arguments ("Not Found: /invitation/<token>/") lose their tokens.

    Django logs a request's outcome ("Not Found", errors) after the middleware has
    finished; those records carry the request, whose environ still says both.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        tenant = get_current_tenant()
        meta = getattr(getattr(record, "request", None), "META", {})
        record.tenant = tenant.slug if tenant is not None else meta.get("quire.tenant", "-")
        record.request_id = meta.get("quire.request_id") or get_request_id()
        if isinstance(record.args, tuple):
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        return True
