""" "New since your last visit" on the posts list, kept in a signed cookie per member.

Nothing is written to the workspace's database on a read: the list is a GET that a
read replica may serve, so the member's marks travel in a cookie signed with the site's
secret key, one per workspace host, naming the member (another member signing in on
the same browser starts afresh). A visit is a run of list views less than
``VISIT_GAP`` apart; what was posted since the end of the previous visit is new.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.http import HttpRequest, HttpResponse

COOKIE_NAME = "quire_seen"
SALT = "quire.posts.seen"
VISIT_GAP = timedelta(minutes=30)
MAX_AGE = timedelta(days=365)


@dataclass(frozen=True)
class Visit:
    since: datetime | None  # the end of the previous visit; None on a first visit
    last_view: datetime


def visit_read(request: HttpRequest, *, member_id: int, now: datetime) -> Visit:
    """Return this list view's visit: what counts as new, and when the list was last seen."""
    mark = request.get_signed_cookie(COOKIE_NAME, default=None, salt=SALT)
    since = last = None
    if mark:
        try:
            owner, since_text, last_text = mark.split("|")
            if int(owner) == member_id:
                since = datetime.fromtimestamp(float(since_text), UTC) if since_text else None
                last = datetime.fromtimestamp(float(last_text), UTC)
        except (ValueError, OverflowError, OSError):
            since = last = None
    if last is not None and now - last > VISIT_GAP:
        since = last  # a new visit: new is what came after the previous one ended
    return Visit(since=since, last_view=now)


def visit_write(response: HttpResponse, *, member_id: int, visit: Visit) -> None:
    """Remember this view in the member's cookie on this workspace's host."""
    since = "" if visit.since is None else repr(visit.since.timestamp())
    value = f"{member_id}|{since}|{visit.last_view.timestamp()!r}"
    response.set_signed_cookie(
        COOKIE_NAME,
        value,
        salt=SALT,
        max_age=int(MAX_AGE.total_seconds()),
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )
