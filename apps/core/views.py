"""Error pages of every site (workspaces and the apex)."""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import (
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views import defaults

TOO_LARGE = (RequestDataTooBig, TooManyFieldsSent, TooManyFilesSent)


def bad_request(request: HttpRequest, exception: Exception) -> HttpResponse:
    """Answer 413 to a body over the upload limits, else Django's 400 page."""
    if isinstance(exception, TOO_LARGE):
        return request_too_large(request)
    return defaults.bad_request(request, exception)


def request_too_large(request: HttpRequest) -> HttpResponse:
    """Return the 413 page naming the size limit."""
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE or 0
    return render(request, "413.html", {"limit_kb": limit // 1024}, status=413)
