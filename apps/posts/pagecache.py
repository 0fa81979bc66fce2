"""Rendered parts of workspace pages, reused until the workspace's next write.

A part is keyed by the workspace (its tenant id; the cache's key function adds its
slug), its epoch and its commit position, and whatever else it depends on (a page
number, a search text, the viewer's role). Every committed write in the workspace
advances the position inside its own transaction, so the first read after a write,
in any process, asks for a key nobody has stored yet and renders afresh: the writer
never sees the page from before their write.

The version is read once per request, before anything is rendered; a part rendered
from data newer than that version is stored under the older key, which no later
request asks for.

Parts are rendered without the request (no ``user``, no ``request``, no messages in
their context): whatever depends on the viewer must be passed in and be part of the
key; the active time zone (the reader's own) always is. A ``{% csrf_token %}`` inside
a part renders a placeholder that is replaced with the viewer's own token each time
the part is served.
"""

from __future__ import annotations

import hashlib
import pickle
import zlib
from collections.abc import Callable
from typing import Any, TypeVar, cast

from django.core.cache import caches
from django.forms import Form
from django.http import HttpRequest
from django.middleware.csrf import get_token
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.functional import SimpleLazyObject
from django.utils.safestring import SafeString, mark_safe

from apps.tenancy.nodes.bookmarks import READ_SQL
from apps.tenancy.routing import work
from apps.tenancy.routing.context import require_current_tenant

CACHE_ALIAS = "pages"
_VERSION_ATTRIBUTE = "_quire_page_version"

T = TypeVar("T")


def _csrf_placeholder() -> str:
    # Derived from the secret key: stable across processes, never guessable by a user.
    return "quire-csrf-" + salted_hmac("apps.posts.pagecache", "csrf").hexdigest()[:32]


CSRF_PLACEHOLDER: Any = SimpleLazyObject(_csrf_placeholder)


def workspace_version(request: HttpRequest) -> str:
    """Return ``<tenant id>.<epoch>.<position>`` of the current workspace, read once a request."""
    version = getattr(request, _VERSION_ATTRIBUTE, None)
    if version is None:
        tenant = require_current_tenant()
        with work.cursor() as cursor:
            cursor.execute(READ_SQL)
            row = cursor.fetchone()
        epoch, position = row if row else (0, 0)
        version = f"{tenant.pk}.{epoch}.{position}"
        setattr(request, _VERSION_ATTRIBUTE, version)
    return version


def cached(request: HttpRequest, name: str, parts: tuple[Any, ...], compute: Callable[[], T]) -> T:
    """Return what ``compute()`` returns for this workspace version and these parts.

    ``compute`` runs only when nothing is stored yet; its result must be picklable.
    """
    # Times are rendered in the reader's zone (apps.accounts.middleware.TimeZoneMiddleware).
    zone = timezone.get_current_timezone_name()
    digest = hashlib.blake2b(repr((parts, zone)).encode(), digest_size=12).hexdigest()
    key = f"page:{name}:{workspace_version(request)}:{digest}"
    cache = caches[CACHE_ALIAS]
    stored = cache.get(key)
    if stored is not None:
        return cast(T, pickle.loads(zlib.decompress(stored)))  # noqa: S301 (our own values)
    value = compute()
    # Compressed, a part takes a quarter of the memory: four times the workspaces cached.
    cache.set(key, zlib.compress(pickle.dumps(value, pickle.HIGHEST_PROTOCOL), 1), timeout=None)
    return value


def render(template_name: str, context: dict[str, Any]) -> str:
    """Render a part: no request, so nothing of the viewer gets in unless passed."""
    return render_to_string(template_name, {**context, "csrf_token": CSRF_PLACEHOLDER})


def fragment(
    request: HttpRequest,
    name: str,
    parts: tuple[Any, ...],
    template_name: str,
    context: Callable[[], dict[str, Any]],
) -> SafeString:
    """Return the rendered part, from the cache when it is there; the viewer's CSRF filled in."""
    html = cached(request, name, parts, lambda: render(template_name, context()))
    return with_csrf(request, html)


def with_csrf(request: HttpRequest, html: str) -> SafeString:
    """Put the viewer's CSRF token where a part has the placeholder."""
    placeholder = str(CSRF_PLACEHOLDER)
    if placeholder in html:
        html = html.replace(placeholder, get_token(request))
    return mark_safe(html)  # noqa: S308 (rendered by our templates, which escape)


def blank_form(request: HttpRequest, name: str, form_class: type[Form]) -> SafeString:
    """Return the fields of an unbound form (``includes/form_fields.html``), rendered once."""
    return fragment(
        request, f"form-{name}", (), "includes/form_fields.html", lambda: {"form": form_class()}
    )
