"""Signed unsubscribe links: one member, one kind of e-mail, one workspace; no sign-in.

The token is signed with the secret key and salted with the workspace's catalog id, so
a link from one workspace does nothing in another, and no one can make a link for a
member they are not. It does not expire: an unsubscribe link must keep working.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.core import signing
from django.urls import reverse

from apps.accounts.models import User
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.routing.context import require_current_tenant
from apps.tenancy.routing.urls import tenant_url

SALT = "quire.notifications.unsubscribe"
# Each kind of e-mail, as the page names it (services.PREFERENCE_OF_KIND: its preference).
KINDS = {
    "posts": "e-mails about new posts (each post and the daily digest)",
    "comments": "e-mails about comments on posts you wrote or commented on",
    "mentions": "e-mails when someone mentions you",
}


class UnsubscribeInvalid(ApplicationError):
    """An unsubscribe link is tampered with, or belongs to another workspace."""


@dataclass(frozen=True)
class Unsubscribe:
    member_id: int
    kind: str


def _signer() -> signing.Signer:
    return signing.Signer(salt=f"{SALT}:{require_current_tenant().pk}")


def unsubscribe_token(*, member: User, kind: str) -> str:
    """Return the token that turns this kind of e-mail off for this member."""
    if kind not in KINDS:
        raise ValueError(f"Unknown kind of e-mail {kind!r}; one of {', '.join(KINDS)}.")
    return _signer().sign_object({"m": member.pk, "k": kind}, compress=False)


def unsubscribe_url(*, member: User, kind: str) -> str:
    """Return the absolute unsubscribe link for this member and kind of e-mail."""
    path = reverse("notifications:unsubscribe", args=[unsubscribe_token(member=member, kind=kind)])
    return tenant_url(require_current_tenant().slug, path)


def unsubscribe_read(token: str) -> Unsubscribe:
    """Return what an unsubscribe token names, or raise UnsubscribeInvalid."""
    try:
        payload = _signer().unsign_object(token)
    except signing.BadSignature:
        raise UnsubscribeInvalid("This unsubscribe link is not valid.") from None
    if not isinstance(payload, dict) or payload.get("k") not in KINDS:
        raise UnsubscribeInvalid("This unsubscribe link is not valid.")
    return Unsubscribe(member_id=int(payload["m"]), kind=str(payload["k"]))
