"""Turn SQLite's trouble into clear answers: busy, full, interrupted, damaged.

Errors are told apart by SQLite's own result codes (``sqlite3.Error.sqlite_errorcode``),
never by message text. Django wraps sqlite3's exceptions; the original is the cause.
"""

from __future__ import annotations

import logging
import sqlite3
import sys

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from apps.tenancy.exceptions import TenantDatabaseDamaged

PRIMARY_CODE_MASK = 0xFF  # extended codes (SQLITE_IOERR_SHORT_READ...) keep it in the low byte
BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
DAMAGED = frozenset(
    {sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_IOERR}
)
RETRY_AFTER_SECONDS = 1

logger = logging.getLogger(__name__)

# kind -> (status, title, text)
PAGES = {
    "moved": (
        503,
        "One moment",
        "This workspace's data was just moved or restored, so your change was not saved. "
        "Nothing was lost; please try again.",
    ),
    "read_only": (
        503,
        "Read-only for the moment",
        "This workspace's main server cannot be reached, so changes cannot be saved right "
        "now; reading still works. Nothing was lost; please try again in a moment.",
    ),
    "unavailable": (
        503,
        "One moment",
        "This workspace is briefly unavailable while it is moved or maintained. Nothing "
        "was lost; please try again in a moment.",
    ),
    "busy": (
        503,
        "This workspace is busy",
        "Another change is being saved right now, so yours was not. Nothing was lost; "
        "please try again in a moment.",
    ),
    "damaged": (
        503,
        "This workspace is unavailable",
        "Its data could not be read. The operators have been alerted; other workspaces "
        "are not affected. Please try again later.",
    ),
    "full": (
        507,
        "Workspace storage is full",
        "This change was not saved because the workspace has reached its storage limit. "
        "Everything saved before is intact.",
    ),
    "interrupted": (
        503,
        "This took too long",
        "The request was stopped because it ran too long. Nothing was changed; please try "
        "again with a narrower request.",
    ),
}


def cause_chain(error: BaseException) -> list[BaseException]:
    """Return an exception followed by its causes (Django's errors wrap sqlite3's)."""
    links: list[BaseException] = []
    current: BaseException | None = error
    while current is not None and all(current is not link for link in links):
        links.append(current)
        current = current.__cause__ or current.__context__
    return links


def sqlite_error(error: BaseException | None) -> sqlite3.Error | None:
    """Return the sqlite3 error, with its result code, behind an exception, or None."""
    for link in cause_chain(error) if error is not None else []:
        if isinstance(link, sqlite3.Error) and link.sqlite_errorcode is not None:
            return link
    return None


def sqlite_code(error: BaseException | None) -> int | None:
    """Return SQLite's primary result code behind an exception, or None if it has none."""
    found = sqlite_error(error)
    return None if found is None else (found.sqlite_errorcode or 0) & PRIMARY_CODE_MASK


def trouble_kind(exc: BaseException | None) -> str | None:
    """Return "busy", "full", "interrupted", "moved" or "damaged" for a database error."""
    if exc is None:
        return None
    if any(isinstance(link, TenantDatabaseDamaged) for link in cause_chain(exc)):
        return "damaged"
    code = sqlite_code(exc)
    if code == sqlite3.SQLITE_READONLY:  # READONLY_DBMOVED: the file moved under a writer
        return "moved"
    if code in BUSY:
        return "busy"
    if code == sqlite3.SQLITE_FULL:
        return "full"
    if code == sqlite3.SQLITE_INTERRUPT:
        return "interrupted"
    if code in DAMAGED:
        return "damaged"
    return None


def trouble_response(request: HttpRequest, exc: BaseException | None) -> HttpResponse | None:
    """Return the page for a database error users can be told about, or None."""
    kind = trouble_kind(exc)
    if kind is None:
        return None
    if kind == "damaged":
        logger.error("Database unreadable: %s", exc)
    return page_response(request, kind)


def page_response(request: HttpRequest, kind: str) -> HttpResponse:
    """Render one of the trouble pages; a 503 says when to retry."""
    status, title, text = PAGES[kind]
    context = {"status": status, "title": title, "text": text}
    response = render(request, "tenancy/trouble.html", context, status=status)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response


def server_error(request: HttpRequest) -> HttpResponse:
    """Answer an unhandled exception: a database's trouble by its page, anything else 500."""
    response = trouble_response(request, sys.exc_info()[1])
    if response is not None:
        return response
    return render(request, "500.html", status=500)
