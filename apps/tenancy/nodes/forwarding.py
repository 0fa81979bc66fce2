"""Forward a request that reached a node which is not its workspace's home."""

from __future__ import annotations

import http.client
from http.cookies import SimpleCookie

from django.conf import settings
from django.http import HttpRequest, HttpResponse

FORWARDED_HEADER = "X-Quire-Forwarded"
FORWARDED_META = "HTTP_X_QUIRE_FORWARDED"
HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailers",
        "transfer-encoding",
        "upgrade",
        "content-length",
    }
)


class HomeUnreachable(Exception):
    """The workspace's home node did not answer."""


def was_forwarded(request: HttpRequest) -> bool:
    """Return True if another node already forwarded this request (never forward twice)."""
    return FORWARDED_META in request.META  # not request.headers: it copies every header


def forward(request: HttpRequest, address: str) -> HttpResponse:
    """Send the same request to the home node (host:port) and return its answer as is.

    Nothing of the workspace was read or written here, so the request happens once, there.
    """
    host, _, port = address.rpartition(":")
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP}
    headers[FORWARDED_HEADER] = settings.QUIRE_NODE_ID
    connection = http.client.HTTPConnection(host, int(port), timeout=settings.QUIRE_FORWARD_TIMEOUT)
    try:
        connection.request(
            request.method or "GET", request.get_full_path(), request.body or None, headers
        )
        upstream = connection.getresponse()
        content = upstream.read()
    except OSError as exc:
        raise HomeUnreachable(f"{address}: {exc}") from exc
    finally:
        connection.close()
    return _response(upstream, content)


def _response(upstream: http.client.HTTPResponse, content: bytes) -> HttpResponse:
    response = HttpResponse(content, status=upstream.status)
    for name, value in upstream.getheaders():
        lowered = name.lower()
        if lowered == "set-cookie":
            response.cookies.load(SimpleCookie(value))
        elif lowered not in HOP_BY_HOP:
            response[name] = value
    return response
