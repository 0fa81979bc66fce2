"""Web plumbing shared by every page: request ids, security headers, body size limit."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase
from django.utils.cache import patch_cache_control

from apps.core.requestid import request_id_context
from apps.core.views import request_too_large
from apps.tenancy.routing.context import get_current_tenant

REQUEST_ID_HEADER = "HTTP_X_REQUEST_ID"
VALID_REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,64}")


class RequestIdMiddleware:
    """Give each request an id (the proxy's X-Request-ID if sane), for logs and responses."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        offered = request.META.get(REQUEST_ID_HEADER, "")
        request_id = offered if VALID_REQUEST_ID.fullmatch(offered) else uuid.uuid4().hex
        request.META["quire.request_id"] = request_id  # gunicorn's access log reads it
        with request_id_context(request_id):
            response = self.get_response(request)
        response["X-Request-ID"] = request_id
        return response


class ContentSecurityPolicyMiddleware:
    """Send the policy in QUIRE_CONTENT_SECURITY_POLICY: our own static files only."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        policy = settings.QUIRE_CONTENT_SECURITY_POLICY
        if policy and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = policy
        return response


class RequestSizeLimitMiddleware:
    """Refuse a body larger than DATA_UPLOAD_MAX_MEMORY_SIZE with 413, before reading it.

    Django counts only form fields against that limit; files in a multipart body would be
    read and spooled to disk first. A body without Content-Length is never read by Django.
    A form with files (multipart) from a browser with a session may carry
    QUIRE_MAX_UPLOAD_BYTES more: attachments; the views check each file themselves.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        if limit is not None and _content_length(request) > limit + _upload_allowance(request):
            return request_too_large(request)
        return self.get_response(request)


def _upload_allowance(request: HttpRequest) -> int:
    """Return the bytes of files this request may carry beyond the body limit."""
    multipart = request.META.get("CONTENT_TYPE", "").startswith("multipart/form-data")
    if multipart and settings.SESSION_COOKIE_NAME in request.COOKIES:
        return int(settings.QUIRE_MAX_UPLOAD_BYTES)
    return 0


def _content_length(request: HttpRequest) -> int:
    try:
        return int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return 0


class PrivateCacheMiddleware:
    """Mark a signed-in member's pages and downloads private, never to be stored."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response = self.get_response(request)
        # Only workspaces have members; the apex has no session store to ask.
        if get_current_tenant() is not None and request.user.is_authenticated:
            patch_cache_control(response, private=True, no_store=True)
        return response
