"""Read the workspace's members and invitations."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.models import Invitation, User
from apps.posts.models import Post


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


def member_directory() -> QuerySet[User]:
    """Return the active members, by name then e-mail."""
    return User.objects.filter(is_active=True).order_by(
        Lower("first_name"), Lower("last_name"), "email"
    )


def member_recent_posts(*, member: User, limit: int = 5) -> list[Post]:
    """Return the member's latest posts, newest first."""
    return list(Post.objects.filter(author=member).order_by("-created_at", "-id")[:limit])


def member_zone(member: User) -> ZoneInfo | None:
    """Return the member's chosen time zone, or None for the workspace's default."""
    if not member.time_zone:
        return None
    try:
        return zone_named(member.time_zone)
    except (ZoneInfoNotFoundError, ValueError):
        return None  # a zone removed from the system's database since it was chosen


@lru_cache(maxsize=512)
def zone_named(name: str) -> ZoneInfo:
    return ZoneInfo(name)


def local_now(member: User) -> datetime:
    """Return the current time where the member is."""
    return timezone.localtime(
        timezone.now(), member_zone(member) or timezone.get_default_timezone()
    )
