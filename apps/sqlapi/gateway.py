"""The SQL API's own door: its calls are answered before Django's request handling.

``config/wsgi.py`` serves ``SqlApiGateway(get_wsgi_application())``. A ``POST`` to an SQL
endpoint (``v2/pipeline``, ``v3/pipeline``, ``v3/cursor``, ``v1/execute``, ``v1/batch``,
on a workspace's host or by path, ``/db/<slug>/v2/pipeline``) is answered here; anything
else goes on to Django. A call needs none of a page's machinery (URL resolving, request
objects, signals, sessions, CSRF, members, templates): it carries a bearer token and is
answered in JSON. What the middleware gives pages, a call gets here in its API form:

- a request id (the proxy's ``X-Request-ID`` if sane) in log lines, in the access log
  with the workspace's slug, and in the response; a 4xx or 5xx answer logged as Django
  logs one (``django.request``);
- the host checked as Django checks it (``ALLOWED_HOSTS``, forwarded headers; a bad one
  gets a 400 protocol error); a call over plain HTTP where HTTPS is required is left to
  Django, which redirects it;
- ``X-Content-Type-Options: nosniff`` and HSTS over HTTPS, as ``SecurityMiddleware``
  sends them;
- this thread's database connections closed when unusable or too old, as Django does
  after a request (``close_old_connections``; its other end-of-request receivers
  reset what calls do not use: URLconfs, caches, the DEBUG query log).

``serve`` is the endpoint itself, whichever door a call came in by: Django's views
(``apps.sqlapi.views``: ASGI, the test client) call it too.
"""

from __future__ import annotations

import http.client
import json
import logging
import os
import re
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from django.conf import settings
from django.core.exceptions import DisallowedHost
from django.db import DatabaseError, close_old_connections
from django.http import HttpRequest

from apps.core.middleware import VALID_REQUEST_ID
from apps.core.requestid import request_id_context
from apps.sqlapi import relay
from apps.sqlapi.handlers import Caller, Refused, Reply, run
from apps.sqlapi.models import DatabaseToken
from apps.sqlapi.protocol import ProtocolError
from apps.sqlapi.services import TokenRefused, token_authenticate
from apps.sqlapi.streams import Elsewhere
from apps.tenancy import metering
from apps.tenancy.fleet.selectors import tenant_get_for_request
from apps.tenancy.models import Tenant
from apps.tenancy.routing.sqlaccess import slug_of_host

logger = logging.getLogger(__name__)
request_logger = logging.getLogger("django.request")
KINDS = {
    "v2/pipeline": "pipeline",
    "v3/pipeline": "pipeline",
    "v3/cursor": "cursor",
    "v1/execute": "v1_execute",
    "v1/batch": "v1_batch",
}
PATH = re.compile(r"/(?:db/(?P<slug>[-a-zA-Z0-9_]+)/)?(?P<endpoint>v[123]/[a-z]+)")
BodyReader = Callable[[int], bytes]  # given the size limit, return the body (or more)
StartResponse = Callable[..., Any]


def endpoint_of(method: str, path: str) -> tuple[str, str | None] | None:
    """Return the endpoint kind and the path's slug (None: the host's) of an API call."""
    found = PATH.fullmatch(path) if method == "POST" else None
    kind = KINDS.get(found["endpoint"]) if found else None
    return None if found is None or kind is None else (kind, found["slug"])


# The endpoint ---------------------------------------------------------------------------


def serve(kind: str, slug: str, meta: Mapping[str, Any], read_body: BodyReader) -> Reply:
    """Answer one call of an endpoint for the workspace ``slug``; never raise a refusal.

    ``meta`` holds the request's WSGI variables (``HTTP_AUTHORIZATION``,
    ``CONTENT_LENGTH``).
    """
    try:
        tenant = _tenant(slug)
        token = _token(meta.get("HTTP_AUTHORIZATION"), tenant)
        _check_quotas(tenant, token)
        body = _body(meta, read_body)
    except Refused as refused:
        return _ours(refused.reply())
    except DatabaseError:
        logger.exception("The SQL API could not read the catalog")
        trouble = ProtocolError("The catalog is briefly unavailable.", "UNAVAILABLE", 503)
        return _ours(Reply.error(trouble, {"Retry-After": "5"}))
    metering.count_request(tenant)  # a request its host served, as pages count
    metering.count_api_call(tenant)
    caller = Caller(tenant, token.pk, token.read_only)
    try:
        return _ours(run(kind, body, caller))
    except Elsewhere as elsewhere:
        return _ours(_hand_over(elsewhere.owner, kind, body, caller))


def _ours(reply: Reply) -> Reply:
    """Mark an answer: which node served it, and that nobody may store it."""
    reply.headers.setdefault("X-Quire-Served-By", f"{settings.QUIRE_NODE_ID} primary")
    reply.headers.setdefault("Cache-Control", "no-store")
    return reply


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


def _tenant(slug: str) -> Tenant:
    """Return the workspace the URL names, as pages find theirs; refuse one not served here."""
    tenant = tenant_get_for_request(slug=slug)
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


def _token(header: str | None, tenant: Tenant) -> DatabaseToken:
    try:
        return token_authenticate(tenant=tenant, header=header)
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


def _body(meta: Mapping[str, Any], read_body: BodyReader) -> dict[str, Any]:
    limit = min(settings.SQLAPI_MAX_BODY_BYTES, settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 2**62)
    too_large = ProtocolError(f"The request body exceeds {limit} bytes.", "BODY_TOO_LARGE", 413)
    if content_length(meta) > limit:
        raise Refused(too_large)
    raw = read_body(limit)
    if len(raw) > limit:  # a body sent in chunks, without Content-Length
        raise Refused(too_large)
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        raise Refused(ProtocolError("The request body is not valid JSON.")) from None
    if not isinstance(body, dict):
        raise Refused(ProtocolError("The request body must be a JSON object."))
    return body


def content_length(meta: Mapping[str, Any]) -> int:
    """Return the body size a request announces (0 for none); refuse a garbled one."""
    try:
        length = int(meta.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = -1
    if length < 0:
        raise Refused(ProtocolError("The Content-Length header is not a size."))
    return length


# The WSGI door ---------------------------------------------------------------------------


class _Head(HttpRequest):
    """A request's head as Django reads it (host, scheme), without building a request."""

    def __init__(self, environ: Mapping[str, Any]) -> None:  # (no query dicts, files...)
        self.META = environ  # type: ignore[assignment]

    def _get_scheme(self) -> str:
        return str(self.META.get("wsgi.url_scheme", "http"))


class SqlApiGateway:
    """A WSGI application: SQL API calls answered here, everything else by ``app``."""

    def __init__(self, app: Callable[[dict[str, Any], StartResponse], Iterable[bytes]]) -> None:
        self.app = app

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        found = endpoint_of(environ.get("REQUEST_METHOD", ""), environ.get("PATH_INFO", ""))
        if found is None:
            return self.app(environ, start_response)
        head = _Head(environ)
        if settings.SECURE_SSL_REDIRECT and not head.is_secure():
            return self.app(environ, start_response)  # Django redirects it to HTTPS
        offered = environ.get("HTTP_X_REQUEST_ID", "")
        request_id = offered if VALID_REQUEST_ID.fullmatch(offered) else os.urandom(16).hex()
        environ["quire.request_id"] = request_id  # gunicorn's access log reads it
        try:
            with request_id_context(request_id):
                reply = self.answer(environ, head, *found)
                if reply is not None and 400 <= reply.status != 500:  # (500: logged with its error)
                    _log_refusal(reply, environ)
        finally:
            close_old_connections()
        if reply is None:
            return self.app(environ, start_response)
        return self.respond(start_response, reply, head, request_id)

    def answer(
        self, environ: dict[str, Any], head: _Head, kind: str, slug: str | None
    ) -> Reply | None:
        """Return the call's answer; None for the base domain's own host (Django's)."""
        try:
            if slug is None:
                slug = slug_of_host(head.get_host())
                if slug is None:
                    return None
            environ["quire.tenant"] = slug
            return serve(kind, slug, environ, lambda limit: _read(environ, limit))
        except DisallowedHost as exc:
            logging.getLogger("django.security.DisallowedHost").error(str(exc))
            return Reply.error(ProtocolError("This host is not served here.", "INVALID_HOST"))
        except Exception:
            request_logger.exception("The SQL API failed: %s", environ.get("PATH_INFO"))
            failed = ProtocolError("The server failed to answer (logged).", "SERVER_ERROR", 500)
            return Reply.error(failed)

    def respond(
        self, start_response: StartResponse, reply: Reply, head: _Head, request_id: str
    ) -> list[bytes]:
        """Send an answer with the headers the middleware gives pages, in API form."""
        content = reply.content.encode()
        headers = [
            ("Content-Type", reply.content_type),
            ("Content-Length", str(len(content))),
            *reply.headers.items(),
            ("X-Request-ID", request_id),
        ]
        if settings.SECURE_CONTENT_TYPE_NOSNIFF:
            headers.append(("X-Content-Type-Options", "nosniff"))
        if settings.SECURE_HSTS_SECONDS and head.is_secure():
            headers.append(("Strict-Transport-Security", _hsts()))
        start_response(f"{reply.status} {http.client.responses[reply.status]}", headers)
        return [content]


def _log_refusal(reply: Reply, environ: Mapping[str, Any]) -> None:
    """Log a 4xx or 5xx answer as Django logs one (``django.request``, its level)."""
    level = logging.ERROR if reply.status >= 500 else logging.WARNING
    reason = http.client.responses.get(reply.status, "")
    path = environ.get("PATH_INFO", "")
    request_logger.log(level, "%s: %s", reason, path, extra={"status_code": reply.status})


def _read(environ: Mapping[str, Any], limit: int) -> bytes:
    """Return a call's body: Content-Length bytes, or at most limit + 1 if sent in chunks."""
    stream = environ["wsgi.input"]
    length = content_length(environ)
    if length:
        return bytes(stream.read(length))
    if environ.get("wsgi.input_terminated"):  # the server ends the stream (gunicorn does)
        return bytes(stream.read(limit + 1))
    return b""


def _hsts() -> str:
    value = f"max-age={settings.SECURE_HSTS_SECONDS}"
    if settings.SECURE_HSTS_INCLUDE_SUBDOMAINS:
        value += "; includeSubDomains"
    if settings.SECURE_HSTS_PRELOAD:
        value += "; preload"
    return value
