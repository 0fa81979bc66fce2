"""Members of a workspace: sign-up hand-off, invitations, roles, deactivation."""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings
from django.contrib.sessions.models import Session
from django.core import signing
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from apps.accounts.models import Invitation, User
from apps.core.mail import mail_enqueue
from apps.core.validators import one_line
from apps.tenancy.context import require_current_tenant
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.work import atomic

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
    token = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        email=email,
        role=role,
        token_hash=_token_hash(token),
        invited_by=invited_by,
        expires_at=timezone.now() + timedelta(days=INVITATION_DAYS),
    )
    workspace = one_line(require_current_tenant().name)
    mail_enqueue(
        subject=f"{invited_by} invited you to {workspace} on Quire",
        body=(
            f"{invited_by} invited you to join {workspace}.\n\n"
            f"Open this link within {INVITATION_DAYS} days to choose your password:\n"
            f"{accept_url(token)}\n"
        ),
        to=[email],
    )
    return invitation


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
