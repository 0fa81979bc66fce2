"""The SQL endpoint of each workspace: Hrana over HTTP (v1, v2, v3 and v3 cursor).

Reached on the workspace's host (``https://acme.example.com/v2/pipeline``) or on the
base domain by path (``https://example.com/db/acme/v2/pipeline``). Token auth only
(``Authorization: Bearer``), no cookies, no CSRF. Every answer is JSON (NDJSON for the
cursor); a failure the client caused is a protocol error with a 4xx, never a 500.

Under WSGI (``config/wsgi.py``) a ``POST`` never gets here: ``apps.sqlapi.gateway``
answers it before Django. These views answer it under ASGI and in Django's test client,
through the same ``gateway.serve``, and answer every other method with 405.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt

from apps.sqlapi.gateway import serve
from apps.sqlapi.handlers import Reply
from apps.sqlapi.protocol import ProtocolError
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
    current = get_current_tenant()  # (reached through the workspace's host)
    if current is not None and slug not in (None, current.slug):
        return as_response(
            Reply.error(ProtocolError("This host serves another workspace.", "NOT_FOUND", 404))
        )
    name = current.slug if current is not None else slug or ""
    return as_response(serve(kind, name, request.META, lambda _limit: request.body))
