"""Slow down password guessing and e-mail flooding, per workspace, client and account.

Counters live in the cache (whose keys carry the workspace) in fixed windows. Sign-in is
throttled in the authentication backend, so every path that calls ``authenticate()`` (the
workspace's sign-in, Django admin's, anything else) counts and is refused the same way.
"""

from __future__ import annotations

import hashlib
import time
from typing import Any

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from apps.accounts.models import User
from apps.accounts.selectors import member_for_session
from apps.core.clientaddress import client_address

THROTTLED = "quire.sign_in_throttled"  # request.META flag: answer this request with 429
KNOWN_ADDRESS_SECONDS = 30 * 24 * 3600


def window_hit(name: str, window: int) -> int:
    """Count one event under this name in the current window; return the window's total."""
    key = _window_key(name, window)
    if cache.add(key, 1, timeout=window):
        return 1
    try:
        total = cache.incr(key)
    except ValueError:  # the window's entry expired between add and incr
        cache.add(key, 1, timeout=window)
        return 1
    cache.touch(key, window)  # some backends' incr resets the timeout to their default
    return int(total)


def _count(name: str, window: int) -> int:
    return int(cache.get(_window_key(name, window), 0))


def _window_key(name: str, window: int) -> str:
    return f"{name}:{int(time.time()) // window}"


def _digest(value: str) -> str:
    return hashlib.sha256(value.strip().lower().encode()).hexdigest()[:32]


class SignInAttempt:
    """One sign-in attempt: its client address and the account it names."""

    def __init__(self, *, request: HttpRequest, username: str) -> None:
        self.address = client_address(request)
        self.account = _digest(username)

    def blocked(self) -> bool:
        """Return True if this address, or this account from an unknown address, is paused."""
        window = settings.QUIRE_LOGIN_WINDOW_SECONDS
        if _count(f"sign-in:address:{self.address}", window) >= settings.QUIRE_LOGIN_ATTEMPTS:
            return True
        account_failures = _count(f"sign-in:account:{self.account}", window)
        return account_failures >= settings.QUIRE_LOGIN_ACCOUNT_ATTEMPTS and not self._known()

    def failed(self) -> None:
        """Count a wrong password against the address and the account."""
        window = settings.QUIRE_LOGIN_WINDOW_SECONDS
        window_hit(f"sign-in:address:{self.address}", window)
        window_hit(f"sign-in:account:{self.account}", window)

    def succeeded(self) -> None:
        """Remember the address, so an attack on the account does not keep its owner out."""
        cache.set(self._known_key(), True, timeout=KNOWN_ADDRESS_SECONDS)

    def _known(self) -> bool:
        return bool(cache.get(self._known_key()))

    def _known_key(self) -> str:
        return f"sign-in:known:{self.account}:{self.address}"


class SignInThrottleBackend(ModelBackend):
    """Django's model backend, refusing attempts past the QUIRE_LOGIN_* limits."""

    def authenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        username = username if username is not None else kwargs.get(User.USERNAME_FIELD)
        if request is None or username is None:
            return self._check(request, username, password, **kwargs)
        attempt = SignInAttempt(request=request, username=username)
        if attempt.blocked():
            request.META[THROTTLED] = True
            raise PermissionDenied("Too many sign-in attempts.")
        try:
            user = self._check(request, username, password, **kwargs)
        except PermissionDenied:
            attempt.failed()
            raise
        attempt.succeeded()
        return user

    def get_user(self, user_id: Any) -> User | None:
        """Return the active member with this id (a fixed statement, no query compiling)."""
        user = member_for_session(pk=user_id)
        return user if user is not None and self.user_can_authenticate(user) else None

    async def aauthenticate(
        self,
        request: HttpRequest | None,
        username: str | None = None,
        password: str | None = None,
        **kwargs: Any,
    ) -> User | None:
        return await sync_to_async(self.authenticate)(request, username, password, **kwargs)

    def _check(
        self, request: HttpRequest | None, username: str | None, password: str | None, **kwargs: Any
    ) -> User:
        """Return the user these credentials name; stop every other backend if none."""
        user = super().authenticate(request, username, password, **kwargs)
        if user is None:
            raise PermissionDenied("Wrong e-mail or password.")
        return user


class SignInThrottleMiddleware:
    """Answer 429 to a request whose sign-in the backend refused as too frequent."""

    def __init__(self, get_response: Any) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponseBase:
        response: HttpResponseBase = self.get_response(request)
        if request.META.get(THROTTLED):
            return too_many_sign_ins(request)
        return response


def too_many_sign_ins(request: HttpRequest) -> HttpResponse:
    """Return the 429 page for sign-in, with the pause in Retry-After."""
    window = settings.QUIRE_LOGIN_WINDOW_SECONDS
    return _paused(request, "accounts/too_many_attempts.html", window)


def _paused(request: HttpRequest, template: str, window: int) -> HttpResponse:
    """Render a 429 page that says how many minutes to wait, and Retry-After."""
    context = {"minutes": max(1, window // 60)}
    response = render(request, template, context, status=429)
    response["Retry-After"] = str(window)
    return response


def mail_allowed(*, request: HttpRequest, recipient: str, purpose: str) -> bool:
    """Count an e-mail about to be sent; return False past the QUIRE_MAIL_* limits."""
    window = settings.QUIRE_MAIL_WINDOW_SECONDS
    from_address = window_hit(f"mail:{purpose}:address:{client_address(request)}", window)
    to_recipient = window_hit(f"mail:{purpose}:recipient:{_digest(recipient)}", window)
    return (
        from_address <= settings.QUIRE_MAIL_PER_ADDRESS
        and to_recipient <= settings.QUIRE_MAIL_PER_RECIPIENT
    )


def too_many_emails(request: HttpRequest) -> HttpResponse:
    """Return the 429 page for e-mails (sign-up, password reset), with Retry-After."""
    return _paused(request, "too_many_emails.html", settings.QUIRE_MAIL_WINDOW_SECONDS)
