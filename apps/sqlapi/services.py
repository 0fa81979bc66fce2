"""Database tokens: create, revoke, and check the one a request carries."""

from __future__ import annotations

import atexit
import hashlib
import logging
import secrets
import threading
import time
from datetime import timedelta
from typing import NoReturn

from django.db import DatabaseError, IntegrityError
from django.db.models import F
from django.utils import timezone

from apps.sqlapi.models import DatabaseToken, RefusedTokenAttempt
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.models import Tenant

TOKEN_PREFIX = "quire_db_"  # noqa: S105 (a marker, not a secret)
LAST_USED_EVERY = timedelta(minutes=1)  # last use is written at most this often
MAX_EXPIRY_DAYS = 3650
logger = logging.getLogger(__name__)
TOKEN_CACHE_SECONDS = 1.0  # how long a process trusts a token it looked up
MAX_CACHED_TOKENS = 1024
_tokens: dict[str, tuple[DatabaseToken, float]] = {}  # hash: token, when looked up
REFUSALS_EVERY = 1.0  # seconds between two writes of one workspace's refusal count
_refusals: dict[tuple[int, str], tuple[int, float]] = {}  # waiting count, last written
_refusals_lock = threading.Lock()


class TokenError(ApplicationError):
    """A token cannot be created or revoked as asked."""


class TokenRefused(ApplicationError):
    """A request's token does not open this workspace; ``reason`` says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason


def token_hash(raw: str) -> str:
    """Return the stored form of a token: its SHA-256 (tokens are 256 random bits)."""
    return hashlib.sha256(raw.encode("utf-8", "surrogateescape")).hexdigest()


def token_create(
    *,
    tenant: Tenant,
    name: str,
    read_only: bool,
    expires_days: int | None = None,
    created_by: str = "",
) -> tuple[DatabaseToken, str]:
    """Create a token for a workspace's database; return it and its secret (shown once)."""
    name = name.strip()
    if not name or len(name) > 60:
        raise TokenError("A token needs a name of 1 to 60 characters.")
    if expires_days is not None and not 1 <= expires_days <= MAX_EXPIRY_DAYS:
        raise TokenError(f"Expiry must be between 1 and {MAX_EXPIRY_DAYS} days.")
    if DatabaseToken.objects.filter(tenant=tenant, name=name, revoked_at=None).exists():
        raise TokenError(f"The workspace already has a token named '{name}'.")
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    expires_at = timezone.now() + timedelta(days=expires_days) if expires_days else None
    try:
        token = DatabaseToken.objects.create(
            tenant=tenant,
            name=name,
            token_hash=token_hash(raw),
            prefix=raw[: len(TOKEN_PREFIX) + 4],
            read_only=read_only,
            expires_at=expires_at,
            created_by=created_by,
        )
    except IntegrityError:  # created by another request meanwhile
        raise TokenError(f"The workspace already has a token named '{name}'.") from None
    return token, raw


def token_revoke(*, tenant: Tenant, name: str) -> DatabaseToken:
    """Revoke a workspace's live token by name; it stops working at once."""
    token = DatabaseToken.objects.filter(tenant=tenant, name=name, revoked_at=None).first()
    if token is None:
        raise TokenError(f"The workspace '{tenant.slug}' has no live token named '{name}'.")
    token.revoked_at = timezone.now()
    token.save(update_fields=["revoked_at"])
    _tokens.clear()  # this process at once; others within TOKEN_CACHE_SECONDS
    return token


def token_authenticate(*, tenant: Tenant, header: str | None) -> DatabaseToken:
    """Return the token an Authorization header carries for this workspace.

    Raise TokenRefused (and count the attempt) when it is missing, unknown, another
    workspace's, revoked or expired.
    """
    scheme, _, raw = (header or "").partition(" ")
    if scheme.lower() != "bearer" or not raw.strip():
        _refuse(tenant, "missing", "Send a database token: 'Authorization: Bearer <token>'.")
    token = _token_by_hash(token_hash(raw.strip()))
    if token is None:
        _refuse(tenant, "unknown", "The token is not valid.")
    if token.tenant_id != tenant.pk:
        _refuse(tenant, "foreign", "The token is not valid for this workspace.")
    now = timezone.now()
    if token.revoked_at is not None:
        _refuse(tenant, "revoked", "The token was revoked.")
    if token.expires_at is not None and token.expires_at <= now:
        _refuse(tenant, "expired", "The token has expired.")
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_EVERY:
        DatabaseToken.objects.filter(pk=token.pk).update(last_used_at=now)
        token.last_used_at = now
    return token


def _token_by_hash(digest: str) -> DatabaseToken | None:
    """Return the token with this hash.

    Every API request asks, so a token found is kept in this process for
    TOKEN_CACHE_SECONDS: a token revoked in another process stops working within that
    time (at once in the process that revoked it).
    """
    now = time.monotonic()
    cached = _tokens.get(digest)
    if cached is not None and now - cached[1] < TOKEN_CACHE_SECONDS:
        return cached[0]
    table = DatabaseToken._meta.db_table
    found = DatabaseToken.objects.raw(
        f"SELECT * FROM {table} WHERE token_hash = %s",  # noqa: S608 (the model's table)
        [digest],
    )
    token = next(iter(found), None)
    if token is None:
        _tokens.pop(digest, None)
        return None
    if len(_tokens) >= MAX_CACHED_TOKENS:
        _tokens.clear()
    _tokens[digest] = (token, now)
    return token


def _refuse(tenant: Tenant, reason: str, message: str) -> NoReturn:
    refusal_count(tenant=tenant, reason=reason)
    raise TokenRefused(reason, message)


def refusal_count(*, tenant: Tenant, reason: str) -> None:
    """Count one refused request for a workspace today.

    A flood of bad tokens must not become a flood of catalog writes: this process adds
    its refusals up and writes them at most once a second per workspace and reason
    (the first one at once), and at exit.
    """
    key = (tenant.pk, reason)
    now = time.monotonic()
    with _refusals_lock:
        waiting, written_at = _refusals.get(key, (0, float("-inf")))
        waiting += 1
        due = now - written_at >= REFUSALS_EVERY
        _refusals[key] = (0, now) if due else (waiting, written_at)
    if due:
        _add_refusals(tenant.pk, reason, waiting)


def flush_refusals() -> None:
    """Write the refusals this process has not written yet."""
    with _refusals_lock:
        waiting = {key: count for key, (count, _at) in _refusals.items() if count}
        _refusals.clear()
    for (tenant_id, reason), count in waiting.items():
        _add_refusals(tenant_id, reason, count)


def _add_refusals(tenant_id: int, reason: str, count: int) -> None:
    day = timezone.now().date()
    rows = RefusedTokenAttempt.objects.filter(tenant_id=tenant_id, day=day, reason=reason)
    if rows.update(count=F("count") + count):
        return
    try:
        RefusedTokenAttempt.objects.create(tenant_id=tenant_id, day=day, reason=reason, count=count)
    except IntegrityError:  # another process created it meanwhile
        rows.update(count=F("count") + count)


def _flush_at_exit() -> None:
    try:
        flush_refusals()
    except DatabaseError:
        logger.exception("Refused SQL API requests could not be counted at exit")


atexit.register(_flush_at_exit)
