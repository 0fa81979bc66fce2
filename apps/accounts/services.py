"""Members of a workspace: sign-up hand-off, invitations, roles, deactivation."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import UTC, timedelta
from typing import Any

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import signing
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.crypto import salted_hmac
from django.utils.dateparse import parse_datetime

from apps.accounts.models import Invitation, User
from apps.core.mail import mail_enqueue
from apps.core.validators import one_line
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.routing.context import require_current_tenant
from apps.tenancy.routing.work import atomic, on_commit

HANDOFF_SALT = "quire.accounts.handoff"
INVITATION_SALT = "quire.accounts.invitation"


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


@atomic()
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


# Members and invitations -----------------------------------------------------------

INVITATION_DAYS = 7


class InvitationInvalid(ApplicationError):
    """An invitation link is unknown, used, revoked or expired."""


class MemberError(ApplicationError):
    """A change to members that the workspace's rules refuse."""


@atomic()
def invitation_create(
    *, invited_by: User, email: str, role: str, accept_url: Callable[[str], str]
) -> Invitation:
    """Invite someone by e-mail; the message carries a single-use link valid 7 days.

    The e-mail is queued once the invitation is committed (a rollback sends nothing);
    the worker sends it and retries a failed send, so no page waits for the mail server.
    """
    email = email.strip().lower()
    if User.objects.filter(email=email).exists():
        raise MemberError(f"{email} is already a member of this workspace.")
    if _pending_invitations().filter(email=email).exists():
        raise MemberError(f"{email} already has a pending invitation; revoke it to send a new one.")
    invitation = Invitation.objects.create(
        email=email,
        role=role,
        # A placeholder no link hashes to, replaced below once the row has its key.
        token_hash=f"pending-{secrets.token_hex(16)}",
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    token = _invitation_new_token(invitation)
    _invitation_mail(invitation, sender=invited_by, link=accept_url(token))
    return invitation


@atomic()
def invitation_resend(
    *, invitation: Invitation, sent_by: User, accept_url: Callable[[str], str]
) -> Invitation:
    """Give a pending invitation a new link valid 7 more days and e-mail it again.

    The old link stops working: its hash is no longer stored.
    """
    if not _pending_invitations().filter(pk=invitation.pk).exists():
        raise MemberError(f"The invitation for {invitation.email} is no longer pending.")
    invitation.expires_at = timezone.now() + timedelta(days=INVITATION_DAYS)
    token = _invitation_new_token(invitation)
    _invitation_mail(invitation, sender=sent_by, link=accept_url(token))
    return invitation


def invitation_token(*, invitation: Invitation) -> str | None:
    """Return the secret of a pending invitation's current link, for its admins to copy.

    The token is derived from the workspace, the invitation and its expiry with the
    site's secret key, and only its hash is stored; None if the stored hash does not
    match (an invitation from before links could be shown again, or a rotated key).
    """
    token = _invitation_derive_token(invitation)
    return token if _token_hash(token) == invitation.token_hash else None


def _invitation_derive_token(invitation: Invitation) -> str:
    expires = invitation.expires_at.astimezone(UTC).isoformat()
    value = f"{require_current_tenant().slug}:{invitation.pk}:{expires}"
    return salted_hmac(INVITATION_SALT, value, algorithm="sha256").hexdigest()


def _invitation_new_token(invitation: Invitation) -> str:
    token = _invitation_derive_token(invitation)
    invitation.token_hash = _token_hash(token)
    invitation.save(update_fields=["token_hash", "expires_at"])
    return token


def _invitation_mail(invitation: Invitation, *, sender: User, link: str) -> None:
    workspace = one_line(require_current_tenant().name)
    mail_enqueue(
        subject=f"{sender} invited you to {workspace} on Quire",
        body=(
            f"{sender} invited you to join {workspace}.\n\n"
            f"Open this link within {INVITATION_DAYS} days to choose your password:\n"
            f"{link}\n"
        ),
        to=[invitation.email],
    )


def invitation_for_token(*, token: str) -> Invitation:
    """Return the pending invitation behind a link, or say why it cannot be used."""
    invitation = Invitation.objects.filter(token_hash=_token_hash(token)).first()
    if invitation is None:
        raise InvitationInvalid("This invitation link is not valid.")
    if invitation.accepted_at is not None:
        raise InvitationInvalid("This invitation has already been used. Sign in instead.")
    if invitation.revoked_at is not None:
        raise InvitationInvalid("This invitation was withdrawn by an admin.")
    if invitation.expires_at <= timezone.now():
        raise InvitationInvalid("This invitation has expired. Ask an admin for a new one.")
    return invitation


@atomic()
def invitation_accept(*, token: str, first_name: str, last_name: str, password: str) -> User:
    """Turn an invitation into a member with this name and password; it works once."""
    invitation = invitation_for_token(token=token)
    claimed = _pending_invitations().filter(pk=invitation.pk).update(accepted_at=timezone.now())
    if claimed != 1:
        raise InvitationInvalid("This invitation has already been used. Sign in instead.")
    if User.objects.filter(email=invitation.email).exists():
        raise InvitationInvalid(f"{invitation.email} is already a member. Sign in instead.")
    is_admin = invitation.role == User.Role.ADMIN
    return User.objects.create_user(
        email=invitation.email,
        password=password,
        first_name=first_name.strip(),
        last_name=last_name.strip(),
        role=invitation.role,
        is_staff=is_admin,
        is_superuser=is_admin,
    )


@atomic()
def invitation_revoke(*, invitation: Invitation) -> None:
    """Withdraw a pending invitation; its link stops working."""
    _pending_invitations().filter(pk=invitation.pk).update(revoked_at=timezone.now())


@atomic()
def member_set_role(*, member: User, role: str) -> None:
    """Make a member an admin or a plain member; the last admin stays an admin.

    The check and the change are one transaction, which holds the workspace's write
    lock from its start: two admins demoting each other cannot both pass the check.
    """
    member.refresh_from_db(fields=["role", "is_active"])
    if member.is_workspace_admin and role != User.Role.ADMIN:
        _require_another_admin(member, "demoted")
    member.role = role
    member.is_staff = member.is_superuser = role == User.Role.ADMIN
    member.save(update_fields=["role", "is_staff", "is_superuser"])


@atomic()
def member_deactivate(*, member: User) -> None:
    """Stop a member from signing in and end their sessions; the last admin stays."""
    member.refresh_from_db(fields=["role", "is_active"])
    if member.is_workspace_admin:
        _require_another_admin(member, "deactivated")
    member.is_active = False
    member.save(update_fields=["is_active"])
    for session in Session.objects.filter(expire_date__gt=timezone.now()):
        if session.get_decoded().get("_auth_user_id") == str(member.pk):
            session.delete()


@atomic()
def member_reactivate(*, member: User) -> None:
    """Let a deactivated member sign in again, with the role they had."""
    member.refresh_from_db(fields=["role", "is_active"])
    member.is_active = True
    member.save(update_fields=["is_active"])


def _require_another_admin(member: User, action: str) -> None:
    others = User.objects.filter(role=User.Role.ADMIN, is_active=True).exclude(pk=member.pk)
    if not others.exists():
        raise MemberError(f"{member} is the last admin and cannot be {action}.")


def _pending_invitations() -> QuerySet[Invitation]:
    return Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    )


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


# The member's own account ----------------------------------------------------------

EMAIL_CHANGE_SALT = "quire.accounts.email-change"
EMAIL_CHANGE_DAYS = 3
AVATAR_MAX_BYTES = 512 * 1024
# The picture types browsers show inline, by their first bytes (the upload's name and
# declared type are the client's word, not the file's).
AVATAR_SIGNATURES = {
    b"\x89PNG\r\n\x1a\n": "png",
    b"\xff\xd8\xff": "jpg",
    b"GIF87a": "gif",
    b"GIF89a": "gif",
}
AVATAR_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


class EmailChangeInvalid(ApplicationError):
    """An e-mail change link is tampered with, expired, used, or the address is taken."""


class AvatarInvalid(ApplicationError):
    """An uploaded picture is too large or not a PNG, JPEG, GIF or WebP image."""


@atomic()
def member_update_profile(
    *,
    member: User,
    first_name: str,
    last_name: str,
    time_zone: str,
    notify_posts: str,
    notify_comments: bool,
    notify_mentions: bool,
) -> User:
    """Save the member's name, time zone and notification preferences."""
    member.first_name, member.last_name = first_name.strip(), last_name.strip()
    member.time_zone = time_zone
    member.notify_posts = notify_posts
    member.notify_comments, member.notify_mentions = notify_comments, notify_mentions
    member.save(
        update_fields=[
            "first_name",
            "last_name",
            "time_zone",
            "notify_posts",
            "notify_comments",
            "notify_mentions",
        ]
    )
    return member


@atomic()
def member_set_name(*, member: User, first_name: str, last_name: str = "") -> None:
    """Name a member (sign-up asks the new admin's name)."""
    member.first_name, member.last_name = first_name.strip(), last_name.strip()
    member.save(update_fields=["first_name", "last_name"])


def avatar_kind(head: bytes) -> str:
    """Return the picture type these first bytes begin, or raise AvatarInvalid."""
    for signature, kind in AVATAR_SIGNATURES.items():
        if head.startswith(signature):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "webp"
    raise AvatarInvalid("The picture must be a PNG, JPEG, GIF or WebP image.")


@atomic()
def member_set_avatar(*, member: User, upload: Any | None) -> None:
    """Replace the member's picture with this upload, or remove it (None)."""
    old = member.avatar.name
    if upload is None:
        member.avatar = ""  # type: ignore[assignment]
    else:
        if upload.size > AVATAR_MAX_BYTES:
            raise AvatarInvalid(
                f"The picture is over {AVATAR_MAX_BYTES // 1024} KB; use a smaller one."
            )
        kind = avatar_kind(upload.read(16))
        upload.seek(0)
        member.avatar.save(f"member-{member.pk}.{kind}", upload, save=False)
    member.save(update_fields=["avatar"])
    if old and old != member.avatar.name:
        storage, name = member.avatar.storage, old
        on_commit(lambda: storage.delete(name))


def email_change_token(*, member: User, new_email: str) -> str:
    """Return a signed token that moves the member to this address, valid 3 days.

    It names the current address, so it stops working once the address changes.
    """
    tenant = require_current_tenant()
    payload = {"t": tenant.pk, "u": member.pk, "old": member.email, "new": new_email}
    return signing.dumps(payload, salt=EMAIL_CHANGE_SALT)


def email_change_request(
    *, member: User, new_email: str, confirm_url: Callable[[str], str]
) -> None:
    """E-mail a confirmation link to the new address; nothing changes until it is opened."""
    new_email = new_email.strip().lower()
    if new_email == member.email:
        raise MemberError("That is already your e-mail address.")
    if User.objects.filter(email=new_email).exists():
        raise MemberError(f"{new_email} is already used by a member of this workspace.")
    workspace = one_line(require_current_tenant().name)
    link = confirm_url(email_change_token(member=member, new_email=new_email))
    mail_enqueue(
        subject=f"Confirm your new e-mail address for {workspace}",
        body=(
            f"Hello {member.display_name},\n\n"
            f"To use {new_email} for {workspace} on Quire, open this link within "
            f"{EMAIL_CHANGE_DAYS} days:\n{link}\n\n"
            "If you did not ask for this, ignore this message: nothing changes.\n"
        ),
        to=[new_email],
    )


@atomic()
def email_change_confirm(*, token: str) -> User:
    """Move the member named by a confirmation link to their new address; it works once."""
    try:
        payload = signing.loads(
            token, salt=EMAIL_CHANGE_SALT, max_age=timedelta(days=EMAIL_CHANGE_DAYS)
        )
    except signing.SignatureExpired:
        raise EmailChangeInvalid("This confirmation link has expired. Ask for a new one.") from None
    except signing.BadSignature:
        raise EmailChangeInvalid("This confirmation link is not valid.") from None
    if payload.get("t") != require_current_tenant().pk:
        raise EmailChangeInvalid("This confirmation link is not valid.")
    member = User.objects.filter(pk=payload["u"], email=payload["old"], is_active=True).first()
    if member is None:
        raise EmailChangeInvalid("This confirmation link was already used.")
    if User.objects.filter(email=payload["new"]).exists():
        raise EmailChangeInvalid(f"{payload['new']} is already used by a member of this workspace.")
    member.email = payload["new"]
    member.save(update_fields=["email"])
    workspace = one_line(require_current_tenant().name)
    mail_enqueue(
        subject=f"Your e-mail address for {workspace} was changed",
        body=(
            f"Hello {member.display_name},\n\n"
            f"Your address for {workspace} on Quire is now {member.email}. "
            "If you did not make this change, tell an admin of the workspace at once.\n"
        ),
        to=[payload["old"]],
    )
    return member
