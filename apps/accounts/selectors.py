"""Read the workspace's members and invitations."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils import timezone

from apps.accounts.models import Invitation, User


def member_list() -> QuerySet[User]:
    """Return every member, admins first, then by e-mail."""
    return User.objects.order_by("role", "email")


def member_get(*, pk: int) -> User | None:
    return User.objects.filter(pk=pk).first()


def invitation_pending_list() -> QuerySet[Invitation]:
    """Return invitations not yet accepted, revoked or expired."""
    return Invitation.objects.filter(
        accepted_at__isnull=True, revoked_at__isnull=True, expires_at__gt=timezone.now()
    ).select_related("invited_by")


def invitation_get(*, pk: int) -> Invitation | None:
    return Invitation.objects.filter(pk=pk).first()
