"""Read the workspace's members and invitations."""

from __future__ import annotations

from datetime import datetime
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.db.models import QuerySet
from django.db.models.functions import Lower
from django.utils import timezone

from apps.accounts.models import Invitation, User
from apps.posts.models import Post
from apps.tenancy.routing import work


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


def member_for_session(*, pk: Any) -> User | None:
    """Return the member with this primary key, as the ORM would, by one fixed statement.

    A signed-in request whose member is not in memory asks this; the query compiler
    would cost it several times the query itself.
    """
    connection = work.current_connection()
    alias = connection.alias
    fields: list[Any] = list(User._meta.concrete_fields)
    columns = ", ".join(connection.ops.quote_name(field.column) for field in fields)
    table, key = connection.ops.quote_name(User._meta.db_table), User._meta.pk.column
    with work.cursor() as cursor:
        cursor.execute(
            f"SELECT {columns} FROM {table} WHERE {connection.ops.quote_name(key)} = %s",  # noqa: S608
            [User._meta.pk.get_db_prep_value(User._meta.pk.to_python(pk), connection)],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    values = []
    for field, value in zip(fields, row, strict=True):
        column = field.get_col(User._meta.db_table)
        for convert in connection.ops.get_db_converters(column) + field.get_db_converters(
            connection
        ):
            value = convert(value, column, connection)
        values.append(value)
    return User.from_db(alias, [field.attname for field in fields], values)
