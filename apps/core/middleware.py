"""Web plumbing shared by every page: request ids and the Content Security Policy."""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponseBase

from apps.core.requestid import request_id_context

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
