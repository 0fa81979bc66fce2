"""The signed-in member of a request, read once until the workspace next changes."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import auth
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY
from django.contrib.auth.middleware import AuthenticationMiddleware as DjangoAuthentication
from django.contrib.auth.models import AnonymousUser
from django.http import HttpRequest, HttpResponseBase
from django.utils import timezone
from django.utils.crypto import constant_time_compare
from django.utils.functional import SimpleLazyObject

from apps.accounts.models import User
from apps.accounts.selectors import member_zone
from apps.tenancy.routing.memo import workspace_memo

_FIELDS = [field.attname for field in User._meta.concrete_fields]


class AuthenticationMiddleware(DjangoAuthentication):
    """Django's ``AuthenticationMiddleware``, its user looked up through ``member_of``."""

    def process_request(self, request: HttpRequest) -> None:
        super().process_request(request)
        request.user = SimpleLazyObject(lambda: member_of(request))  # type: ignore[assignment]


def member_of(request: HttpRequest) -> Any:
    """Return the request's signed-in member (or AnonymousUser), as Django's ``get_user``.

    A member Django found and verified (active, session hash matching the password) is
    kept in the workspace memo under the session's user, backend and hash, as the row's
    values: any committed write in the workspace (a password change, a deactivation, a
    role change, a sign-out) empties the memo, so the next request asks Django again.
    Each request gets its own instance, so a view that changes it changes nobody else's.
    """
    key = _memo_key(request)
    memo = workspace_memo() if key is not None else None
    if memo is None or key is None:
        return auth.get_user(request)
    kept: tuple[str, tuple[Any, ...]] | None = memo.get(key)
    if kept is not None:
        return User.from_db(kept[0], _FIELDS, kept[1])
    user: Any = auth.get_user(request)
    if _verified(request, user, key):
        memo[key] = (user._state.db, tuple(getattr(user, name) for name in _FIELDS))
    return user


def _memo_key(request: HttpRequest) -> tuple[Any, ...] | None:
    session = request.session  # type: ignore[attr-defined]
    values = (session.get(SESSION_KEY), session.get(BACKEND_SESSION_KEY))
    hashed = session.get(HASH_SESSION_KEY)
    if None in values or not hashed:
        return None  # not signed in: Django answers without a query
    return ("member", *values, hashed)


def _verified(request: HttpRequest, user: Any, key: tuple[Any, ...]) -> bool:
    """Return True if Django accepted this user with the session's hash under the current key."""
    if isinstance(user, AnonymousUser) or not isinstance(user, User):
        return False
    hashed = request.session.get(HASH_SESSION_KEY)  # type: ignore[attr-defined]
    return hashed == key[-1] and constant_time_compare(hashed, user.get_session_auth_hash())


class TimeZoneMiddleware:
    """Show times in the signed-in member's own time zone (their account's choice).

    Cached page parts carry the active zone in their key (``apps.posts.pagecache``), so
    a part rendered for a reader in one zone is never served to a reader in another.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponseBase]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        user = getattr(request, "user", None)
        zone = member_zone(user) if user is not None and user.is_authenticated else None
        if zone is None:
            return self.get_response(request)
        timezone.activate(zone)
        try:
            return self.get_response(request)
        finally:
            timezone.deactivate()
