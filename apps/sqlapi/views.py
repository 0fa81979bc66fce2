"""The SQL endpoint of each workspace: Hrana over HTTP (v1, v2, v3 and v3 cursor).

Reached on the workspace's host (``https://acme.example.com/v2/pipeline``) or on the
base domain by path (``https://example.com/db/acme/v2/pipeline``). Token auth only
(``Authorization: Bearer``), no cookies, no CSRF. Every answer is JSON (NDJSON for the
cursor); a failure the client caused is a protocol error with a 4xx, never a 500.
"""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.sqlapi import relay
from apps.sqlapi.handlers import Caller, Refused, Reply, run
from apps.sqlapi.models import DatabaseToken
from apps.sqlapi.protocol import ProtocolError
from apps.sqlapi.services import TokenRefused, token_authenticate
from apps.sqlapi.streams import Elsewhere
from apps.tenancy import metering
from apps.tenancy.fleet.selectors import tenant_get
from apps.tenancy.models import Tenant
from apps.tenancy.routing.context import get_current_tenant

VERSION = "quire-sqlapi 1 (hrana 1, 2, 3 over HTTP)"


def as_response(reply: Reply) -> HttpResponse:
    response = HttpResponse(reply.content, content_type=reply.content_type, status=reply.status)
    for name, value in reply.headers.items():
        response[name] = value
    return response


# Discovery -------------------------------------------------------------------------------


def probe(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """Answer the version probes clients send (GET /v2, /v3): this version is spoken."""
    return HttpResponse(b"", content_type="text/plain")


def version(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    return HttpResponse(VERSION, content_type="text/plain")


def health(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    return HttpResponse(b"", content_type="text/plain")


# Endpoints -------------------------------------------------------------------------------


@csrf_exempt
def pipeline(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """POST /v2/pipeline and /v3/pipeline: run a stream's requests, in order."""
    return _serve(request, slug, "pipeline")


@csrf_exempt
def cursor(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """POST /v3/cursor: run a batch and answer with NDJSON entries."""
    return _serve(request, slug, "cursor")


@csrf_exempt
def v1_execute(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """POST /v1/execute: one statement, no stream."""
    return _serve(request, slug, "v1_execute")


@csrf_exempt
def v1_batch(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """POST /v1/batch: one batch, no stream."""
    return _serve(request, slug, "v1_batch")


def _serve(request: HttpRequest, slug: str | None, kind: str) -> HttpResponse:
    if request.method != "POST":
        response = as_response(Reply.error(ProtocolError("Use POST.", "METHOD_NOT_ALLOWED", 405)))
        response["Allow"] = "POST"
        return response
    try:
        tenant = _tenant(slug)
        token = _token(request, tenant)
        _check_quotas(tenant, token)
        body = _body(request)
    except Refused as refused:
        return as_response(refused.reply())
    metering.count_api_call(tenant)
    caller = Caller(tenant, token.pk, token.read_only)
    try:
        return as_response(run(kind, body, caller))
    except Elsewhere as elsewhere:
        return as_response(_hand_over(elsewhere.owner, kind, body, caller))


def _hand_over(owner: str, kind: str, body: dict[str, Any], caller: Caller) -> Reply:
    """Let the worker process that holds the stream answer the request."""
    reply = relay.forward(owner, kind, body, caller)
    if reply is None:
        error = ProtocolError(
            "The stream has ended: the server process that held it is gone, and its "
            "transaction was rolled back.",
            "STREAM_EXPIRED",
        )
        return Reply.error(error)
    reply.headers["X-Quire-Handed-To"] = owner  # which worker process answered
    return reply


def _tenant(slug: str | None) -> Tenant:
    """Return the workspace the URL names; refuse one this node cannot serve."""
    current = get_current_tenant()
    if current is not None and slug not in (None, current.slug):
        raise Refused(ProtocolError("This host serves another workspace.", "NOT_FOUND", 404))
    tenant = current if current is not None else tenant_get(slug=slug or "")
    if tenant is None or tenant.status in (Tenant.Status.DELETED, Tenant.Status.PROVISIONING):
        raise Refused(ProtocolError(f"No workspace '{slug}'.", "NOT_FOUND", 404))
    if tenant.status == Tenant.Status.SUSPENDED:
        raise Refused(ProtocolError("The workspace is suspended.", "SUSPENDED", 403))
    if not tenant.is_servable:
        error = ProtocolError("The workspace is briefly unavailable.", "UNAVAILABLE", 503)
        raise Refused(error, {"Retry-After": "5"})
    if tenant.home_node not in ("", settings.QUIRE_NODE_ID):
        error = ProtocolError(
            f"The workspace is served by node {tenant.home_node}; use its address.",
            "MISDIRECTED",
            421,
        )
        raise Refused(error, {"X-Quire-Home-Node": tenant.home_node})
    return tenant


def _token(request: HttpRequest, tenant: Tenant) -> DatabaseToken:
    try:
        return token_authenticate(tenant=tenant, header=request.headers.get("Authorization"))
    except TokenRefused as refused:
        error = ProtocolError(str(refused), "UNAUTHORIZED", 401)
        raise Refused(error, {"WWW-Authenticate": 'Bearer realm="quire-sql"'}) from None


def _check_quotas(tenant: Tenant, token: DatabaseToken) -> None:
    kinds = ("api_calls", "rows_read") if token.read_only else metering.QUOTA_KINDS
    try:
        for kind in kinds:
            metering.check_quota(tenant, kind)
    except metering.QuotaExceeded as exceeded:
        error = ProtocolError(str(exceeded), "QUOTA_EXCEEDED", 429)
        raise Refused(error, {"Retry-After": str(exceeded.retry_after)}) from None


def _body(request: HttpRequest) -> dict[str, Any]:
    limit = min(settings.SQLAPI_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2**62)
    if int(request.META.get("CONTENT_LENGTH") or 0) > limit:
        raise Refused(
            ProtocolError(f"The request body exceeds {limit} bytes.", "BODY_TOO_LARGE", 413)
        )
    try:
        body = json.loads(request.body)
    except (ValueError, UnicodeDecodeError):
        raise Refused(ProtocolError("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise Refused(ProtocolError("The request body must be a JSON object."))
    return body
