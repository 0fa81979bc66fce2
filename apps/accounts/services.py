"""Hand a signed-in user from the public site over to their workspace."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts.models import User
from apps.tenancy.exceptions import ApplicationError

HANDOFF_SALT = "quire.accounts.handoff"


class HandoffInvalid(ApplicationError):
    """A hand-off token is tampered with, expired, used, or meant for another workspace."""


def handoff_token_make(*, user: User, tenant_slug: str) -> str:
    """Return a signed token that signs this user in once on their workspace.

    The token carries the user's last sign-in time; consuming it changes that time,
    so a token works once.
    """
    last_login = user.last_login.isoformat() if user.last_login else ""
    payload = {"t": tenant_slug, "u": user.pk, "l": last_login}
    return signing.dumps(payload, salt=HANDOFF_SALT)


def handoff_user_consume(*, token: str, tenant_slug: str) -> User:
    """Return the user a hand-off token names, marking the token used."""
    try:
        payload = signing.loads(token, salt=HANDOFF_SALT, max_age=settings.QUIRE_HANDOFF_MAX_AGE)
    except signing.SignatureExpired:
        raise HandoffInvalid("This sign-in link has expired.") from None
    except signing.BadSignature:
        raise HandoffInvalid("This sign-in link is not valid.") from None
    if payload.get("t") != tenant_slug:
        raise HandoffInvalid("This sign-in link is not valid.")
    users = User.objects.filter(pk=payload["u"], is_active=True)
    if payload["l"]:
        users = users.filter(last_login=parse_datetime(payload["l"]))
    else:
        users = users.filter(last_login__isnull=True)
    # Compare-and-set: of two concurrent uses, exactly one updates the row.
    if users.update(last_login=timezone.now()) != 1:
        raise HandoffInvalid("This sign-in link has already been used.")
    return User.objects.get(pk=payload["u"])
