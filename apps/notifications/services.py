"""Who hears about what: notifications queued by writes, sent by the job worker.

Every e-mail goes to one member (their own unsubscribe link is in it), as its own job:
a failing mailbox is retried alone and never holds up the others.
"""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from django.conf import settings
from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.accounts.models import User
from apps.jobs.queue import job_enqueue, job_enqueue_at
from apps.notifications import tasks
from apps.notifications.mail import Notice
from apps.notifications.mentions import mentioned_ids
from apps.notifications.models import DigestSchedule
from apps.notifications.tokens import Unsubscribe
from apps.posts.models import Comment, Post
from apps.tenancy.routing.work import atomic

PREFERENCE_OF_KIND = {
    "posts": "notify_posts",
    "comments": "notify_comments",
    "mentions": "notify_mentions",
}
# A digest job this late is taken for lost (its worker's queue insert died with it).
DIGEST_GRACE = timedelta(hours=1)


# Queued by the writes of apps.posts, inside their unit of work -----------------------


def post_published(*, post: Post, mentioned: list[int]) -> None:
    """Queue the e-mails about a new post: its mentions, and members who want every post."""
    job_enqueue(tasks.post_notify, post_id=post.pk, mentioned=mentioned, announce=True)


def post_edited(*, post: Post, old_html: str) -> None:
    """Queue e-mails for the members an edit mentions for the first time."""
    added = sorted(mentioned_ids(post.body_html) - mentioned_ids(old_html))
    if added:
        job_enqueue(tasks.post_notify, post_id=post.pk, mentioned=added, announce=False)


def comment_added(*, comment: Comment, mentioned: list[int]) -> None:
    """Queue the e-mails about a new comment: its mentions and the post's participants."""
    job_enqueue(tasks.comment_notify, comment_id=comment.pk, mentioned=mentioned)


# Recipients ----------------------------------------------------------------------------


def _recipients(ids: list[int] | set[int], *, preference: str, exclude: int) -> QuerySet[User]:
    return User.objects.filter(pk__in=ids, is_active=True, **{preference: True}).exclude(pk=exclude)


def post_notices(*, post: Post, mentioned: list[int], announce: bool) -> list[Notice]:
    """Return one e-mail per member to tell about this post (a mention beats an announcement)."""
    notices = [
        Notice(member=member, kind="mentions", template="mention", post=post)
        for member in _recipients(mentioned, preference="notify_mentions", exclude=post.author_id)
    ]
    if announce:
        told = {notice.member.pk for notice in notices}
        readers = User.objects.filter(is_active=True, notify_posts=User.PostMail.EACH)
        notices += [
            Notice(member=member, kind="posts", template="post", post=post)
            for member in readers.exclude(pk__in=told | {post.author_id})
        ]
    return notices


def comment_notices(*, comment: Comment, mentioned: list[int]) -> list[Notice]:
    """Return one e-mail per member to tell about this comment (a mention beats the rest)."""
    post = comment.post
    notices = [
        Notice(member=member, kind="mentions", template="mention", post=post, comment=comment)
        for member in _recipients(
            mentioned, preference="notify_mentions", exclude=comment.author_id
        )
    ]
    told = {notice.member.pk for notice in notices}
    participants = set(Comment.objects.filter(post=post).values_list("author_id", flat=True))
    participants.add(post.author_id)
    notices += [
        Notice(member=member, kind="comments", template="comment", post=post, comment=comment)
        for member in _recipients(
            participants - told, preference="notify_comments", exclude=comment.author_id
        )
    ]
    return notices


# Unsubscribing -------------------------------------------------------------------------


@atomic()
def member_unsubscribe(*, unsubscribe: Unsubscribe) -> User | None:
    """Turn off the kind of e-mail a link names for its member; None if they are gone."""
    return _member_preference_set(unsubscribe, on=False)


@atomic()
def member_resubscribe(*, unsubscribe: Unsubscribe) -> User | None:
    """Turn the kind of e-mail a link names back on (new posts: the daily digest)."""
    member = _member_preference_set(unsubscribe, on=True)
    if member is not None and unsubscribe.kind == "posts":
        digest_schedule_ensure()
    return member


def _member_preference_set(unsubscribe: Unsubscribe, *, on: bool) -> User | None:
    member = User.objects.filter(pk=unsubscribe.member_id).first()
    if member is None:
        return None
    field = PREFERENCE_OF_KIND[unsubscribe.kind]
    if field == "notify_posts":
        setattr(member, field, User.PostMail.DAILY if on else User.PostMail.OFF)
    else:
        setattr(member, field, on)
    member.save(update_fields=[field])
    return member


# The daily digest ----------------------------------------------------------------------


def digest_due_after(moment: datetime) -> datetime:
    """Return the first digest time (QUIRE_DIGEST_HOUR, UTC) after this moment."""
    due = datetime.combine(moment.date(), time(settings.QUIRE_DIGEST_HOUR), tzinfo=UTC)
    return due if due > moment else due + timedelta(days=1)


@atomic()
def digest_schedule_ensure() -> None:
    """Queue the workspace's next digest unless one is waiting (or nobody wants one).

    Called when a member chooses the digest and by every notification job, so a chain
    broken by a lost job (a worker killed between commit and queue) starts again.
    """
    now = timezone.now()
    schedule = DigestSchedule.objects.first()
    if schedule is not None and schedule.next_due > now - DIGEST_GRACE:
        return
    if not User.objects.filter(is_active=True, notify_posts=User.PostMail.DAILY).exists():
        return
    due = digest_due_after(now)
    DigestSchedule.objects.update_or_create(pk=1, defaults={"next_due": due})
    job_enqueue_at(tasks.digest_run, due, due=due.isoformat())


@atomic()
def digest_run(*, due: datetime) -> list[Notice]:
    """Return the digests due at this time and queue the next run; none for a stale job."""
    claimed = DigestSchedule.objects.filter(pk=1, next_due=due)
    following = digest_due_after(max(due, timezone.now()))
    if claimed.update(next_due=following) != 1:
        return []  # a duplicate, or a run replaced by a newer chain
    job_enqueue_at(tasks.digest_run, following, due=following.isoformat())
    notices = []
    for member in User.objects.filter(is_active=True, notify_posts=User.PostMail.DAILY):
        notice = digest_notice(member=member, until=due)
        if notice is not None:
            notices.append(notice)
        member.digest_sent_at = due
        member.save(update_fields=["digest_sent_at"])
    return notices


def digest_notice(*, member: User, until: datetime) -> Notice | None:
    """Return the member's digest of the posts and comments since their last, or None."""
    since = max(member.digest_sent_at or until - timedelta(days=1), until - timedelta(days=7))
    window = Q(created_at__gt=since, created_at__lte=until)
    posts = list(Post.objects.filter(window).exclude(author=member).select_related("author"))
    comments = list(
        Comment.objects.filter(window)
        .exclude(author=member)
        .select_related("author", "post")
        .order_by("post_id", "created_at")
    )
    if not posts and not comments:
        return None
    return Notice(
        member=member,
        kind="posts",
        template="digest",
        posts=posts,
        comments=comments,
        until=until,
    )
