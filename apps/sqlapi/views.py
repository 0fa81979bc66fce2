"""The SQL endpoint of each workspace: Hrana over HTTP (v1, v2, v3 and v3 cursor).

Reached on the workspace's host (``https://acme.example.com/v2/pipeline``) or on the
base domain by path (``https://example.com/db/acme/v2/pipeline``). Token auth only
(``Authorization: Bearer``), no cookies, no CSRF. Every answer is JSON (NDJSON for the
cursor); a failure the client caused is a protocol error with a 4xx, never a 500.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from apps.sqlapi.models import DatabaseToken
from apps.sqlapi.protocol import Budget, Limits, ProtocolError
from apps.sqlapi.services import TokenRefused, token_authenticate
from apps.sqlapi.streams import Stream, park, release, resume
from apps.tenancy import metering
from apps.tenancy.bookmarks import HEADER_NAME as BOOKMARK_HEADER
from apps.tenancy.bookmarks import Bookmark
from apps.tenancy.context import get_current_tenant, tenant_context
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.models import Tenant
from apps.tenancy.selectors import tenant_get

VERSION = "quire-sqlapi 1 (hrana 1, 2, 3 over HTTP)"


class Refused(Exception):
    """The whole HTTP request is refused (status and protocol error)."""

    def __init__(self, error: ProtocolError, headers: dict[str, str] | None = None) -> None:
        super().__init__(error.message)
        self.error = error
        self.headers = headers or {}


def error_response(error: ProtocolError, headers: dict[str, str] | None = None) -> JsonResponse:
    response = JsonResponse(error.as_json(), status=error.status)
    for name, value in (headers or {}).items():
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
    return _serve(request, slug, _pipeline)


@csrf_exempt
def cursor(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """POST /v3/cursor: run a batch and answer with NDJSON entries."""
    return _serve(request, slug, _cursor)


@csrf_exempt
def v1_execute(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """POST /v1/execute: one statement, no stream."""
    return _serve(request, slug, _v1_execute)


@csrf_exempt
def v1_batch(request: HttpRequest, slug: str | None = None) -> HttpResponse:
    """POST /v1/batch: one batch, no stream."""
    return _serve(request, slug, _v1_batch)


Handler = Callable[[dict[str, Any], Tenant, DatabaseToken, Budget], HttpResponse]


def _serve(request: HttpRequest, slug: str | None, handler: Handler) -> HttpResponse:
    if request.method != "POST":
        response = error_response(ProtocolError("Use POST.", "METHOD_NOT_ALLOWED", 405))
        response["Allow"] = "POST"
        return response
    try:
        tenant = _tenant(request, slug)
        token = _token(request, tenant)
        _check_quotas(tenant, token)
        body = _body(request)
    except Refused as refused:
        return error_response(refused.error, refused.headers)
    budget = Budget(Limits.from_settings())
    metering.count_api_call(tenant)
    try:
        with tenant_context(tenant):
            return handler(body, tenant, token, budget)
    except Refused as refused:
        return error_response(refused.error, refused.headers)
    except ProtocolError as error:
        return error_response(error)
    finally:
        metering.count_rows(tenant, read=budget.rows_read, written=budget.rows_written)


def _tenant(request: HttpRequest, slug: str | None) -> Tenant:
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


@contextmanager
def _stream(
    baton: Any, tenant: Tenant, token: DatabaseToken
) -> Iterator[tuple[Stream, dict[str, Any]]]:
    """Hold a stream for one request; yield it and a dict for the baton to send back.

    Set ``state["closed"]`` to end the stream with this request.
    """
    if baton is not None and not isinstance(baton, str):
        raise Refused(ProtocolError("'baton' must be a string or null.", "INVALID_BATON"))
    try:
        stream = resume(baton, tenant, token_id=token.pk, read_only=token.read_only)
    except ProtocolError as error:
        raise Refused(error) from None
    except (sqlite3.Error, ApplicationError, OSError) as exc:
        trouble = ProtocolError(
            f"The workspace's database cannot be opened now: {exc}.", "UNAVAILABLE", 503
        )
        raise Refused(trouble, {"Retry-After": "5"}) from None
    state: dict[str, Any] = {"closed": False, "baton": None}
    try:
        yield stream, state
    except BaseException:
        release(stream)
        raise
    if state["closed"]:
        release(stream)
        return
    try:
        state["baton"] = park(stream)
    except ProtocolError as error:
        raise Refused(error) from None


def _with_bookmark(response: HttpResponse, stream: Stream, before: Any) -> HttpResponse:
    committed = stream.session.committed
    if committed is not None and committed != before:
        response[BOOKMARK_HEADER] = str(Bookmark(*committed))
    return response


def _pipeline(
    body: dict[str, Any], tenant: Tenant, token: DatabaseToken, budget: Budget
) -> HttpResponse:
    requests = body.get("requests")
    if not isinstance(requests, list):
        raise Refused(ProtocolError("The body needs a list of 'requests'."))
    with _stream(body.get("baton"), tenant, token) as (stream, state):
        before = stream.session.committed
        results = []
        for item in requests:
            if state["closed"]:
                closed = ProtocolError("The stream was closed by an earlier request.", "CLOSED")
                results.append({"type": "error", "error": closed.as_json()})
                continue
            try:
                results.append({"type": "ok", "response": _request(stream, state, item, budget)})
            except ProtocolError as failed:
                results.append({"type": "error", "error": failed.as_json()})
    payload = {"baton": state["baton"], "base_url": None, "results": results}
    return _with_bookmark(JsonResponse(payload), stream, before)


def _request(stream: Stream, state: dict[str, Any], item: Any, budget: Budget) -> dict[str, Any]:
    """Run one pipeline request; return its response object."""
    if not isinstance(item, dict):
        raise ProtocolError("A request must be an object with a 'type'.")
    kind = item.get("type")
    session = stream.session
    if kind == "execute":
        return {"type": "execute", "result": session.execute(item.get("stmt"), budget)}
    if kind == "batch":
        return {"type": "batch", "result": session.batch(item.get("batch"), budget)}
    if kind == "sequence":
        session.sequence(item, budget)
        return {"type": "sequence"}
    if kind == "describe":
        return {"type": "describe", "result": session.describe(item, budget)}
    if kind == "store_sql":
        session.store_sql(item)
        return {"type": "store_sql"}
    if kind == "close_sql":
        session.close_sql(item)
        return {"type": "close_sql"}
    if kind == "get_autocommit":
        return {"type": "get_autocommit", "is_autocommit": session.autocommit}
    if kind == "close":
        state["closed"] = True
        return {"type": "close"}
    raise ProtocolError(f"Unknown request type {kind!r}.")


def _cursor(
    body: dict[str, Any], tenant: Tenant, token: DatabaseToken, budget: Budget
) -> HttpResponse:
    with _stream(body.get("baton"), tenant, token) as (stream, _state):
        before = stream.session.committed
        try:
            entries = _cursor_entries(stream.session.batch(body.get("batch"), budget))
        except ProtocolError as error:
            entries = [{"type": "error", "error": error.as_json()}]
    lines = [{"baton": _state["baton"], "base_url": None}, *entries]
    text = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines)
    response = HttpResponse(text, content_type="application/x-ndjson")
    return _with_bookmark(response, stream, before)


def _cursor_entries(result: dict[str, Any]) -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = []
    steps = zip(result["step_results"], result["step_errors"], strict=True)
    for step, (outcome, error) in enumerate(steps):
        if error is not None:
            entries.append({"type": "step_error", "step": step, "error": error})
        if outcome is None:
            continue
        entries.append({"type": "step_begin", "step": step, "cols": outcome["cols"]})
        entries.extend({"type": "row", "row": row} for row in outcome["rows"])
        entries.append(
            {
                "type": "step_end",
                "affected_row_count": outcome["affected_row_count"],
                "last_insert_rowid": outcome["last_insert_rowid"],
            }
        )
    return entries


def _v1_execute(
    body: dict[str, Any], tenant: Tenant, token: DatabaseToken, budget: Budget
) -> HttpResponse:
    with _stream(None, tenant, token) as (stream, state):
        state["closed"] = True
        before = stream.session.committed
        result = stream.session.execute(body.get("stmt"), budget)
    return _with_bookmark(JsonResponse({"result": result}), stream, before)


def _v1_batch(
    body: dict[str, Any], tenant: Tenant, token: DatabaseToken, budget: Budget
) -> HttpResponse:
    with _stream(None, tenant, token) as (stream, state):
        state["closed"] = True
        before = stream.session.committed
        result = stream.session.batch(body.get("batch"), budget)
    return _with_bookmark(JsonResponse({"result": result}), stream, before)
