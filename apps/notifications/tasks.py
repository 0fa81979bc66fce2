"""The jobs of notifications: run by the job worker in their workspace's context."""

from __future__ import annotations

import logging
from typing import Any

from django.utils.dateparse import parse_datetime

from apps.core.mail import mail_enqueue
from apps.jobs.queue import workspace_task
from apps.tenancy.routing.work import atomic

logger = logging.getLogger(__name__)


@workspace_task
def post_notify(*, post_id: int, mentioned: list[int], announce: bool) -> int:
    """E-mail the members a new (or edited) post mentions, and those who want every post."""
    from apps.notifications import services
    from apps.posts.models import Post

    services.digest_schedule_ensure()
    post = Post.objects.select_related("author").filter(pk=post_id).first()
    if post is None:
        return 0  # deleted before the job ran
    return notices_queue(services.post_notices(post=post, mentioned=mentioned, announce=announce))


@workspace_task
def comment_notify(*, comment_id: int, mentioned: list[int]) -> int:
    """E-mail the members a comment mentions, and the post's author and commenters."""
    from apps.notifications import services
    from apps.posts.models import Comment

    services.digest_schedule_ensure()
    comment = Comment.objects.select_related("author", "post__author").filter(pk=comment_id).first()
    if comment is None:
        return 0
    return notices_queue(services.comment_notices(comment=comment, mentioned=mentioned))


@workspace_task
def digest_run(*, due: str) -> int:
    """Send the daily digests due at this time and queue the next run."""
    from apps.notifications import services

    moment = parse_datetime(due)
    if moment is None:
        raise ValueError(f"Not a date and time: {due!r}")
    with atomic():  # the e-mails are queued with the digest's commit, or not at all
        return notices_queue(services.digest_run(due=moment))


def notices_queue(notices: list[Any]) -> int:
    """Queue one sending job per notice not sent before; return how many were queued.

    A failing mailbox is retried on its own; a notification job that runs again (a
    retry, a worker lost after its commit) finds its deliveries recorded and sends none.
    """
    from apps.notifications.mail import notice_key, notice_message
    from apps.notifications.models import Delivery

    with atomic():
        keyed = {notice_key(notice): notice for notice in notices}
        done = set(Delivery.objects.filter(key__in=keyed).values_list("key", flat=True))
        fresh = {key: notice for key, notice in keyed.items() if key not in done}
        Delivery.objects.bulk_create([Delivery(key=key) for key in fresh])
        for notice in fresh.values():
            message = notice_message(notice)
            mail_enqueue(
                subject=message.subject,
                body=message.body,
                html_body=message.html_body,
                to=message.to,
                headers=message.headers,
            )
    return len(fresh)
