"""Notification e-mails: one member, one message, text and HTML from templates."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from django.template.loader import render_to_string

from apps.accounts.models import User
from apps.core.validators import one_line
from apps.notifications.tokens import KINDS, unsubscribe_url
from apps.posts.models import Comment, Post
from apps.tenancy.routing.context import require_current_tenant
from apps.tenancy.routing.urls import tenant_url

RELATIVE_LINK = re.compile(r'(href|src)="/(?!/)')


@dataclass
class Notice:
    """One e-mail to one member about a post, a comment, a mention or their digest."""

    member: User
    kind: str  # what its unsubscribe link turns off: a key of tokens.KINDS
    template: str  # post, comment, mention or digest
    post: Post | None = None
    comment: Comment | None = None
    posts: list[Post] = field(default_factory=list)
    comments: list[Comment] = field(default_factory=list)
    until: datetime | None = None  # a digest's moment


@dataclass(frozen=True)
class Message:
    subject: str
    body: str
    html_body: str
    to: list[str]
    headers: dict[str, str]


def notice_key(notice: Notice) -> str:
    """Return what identifies a notice: its kind of e-mail, what it is about, its member."""
    if notice.comment is not None:
        about = f"comment-{notice.comment.pk}"
    elif notice.post is not None:
        about = f"post-{notice.post.pk}"
    else:
        about = f"{notice.until:%Y-%m-%dT%H:%M}" if notice.until else "none"
    return f"{notice.template}:{about}:{notice.member.pk}"


def absolute_links(html: str) -> str:
    """Return HTML whose site-relative links point at the workspace (e-mails have no host)."""
    base = tenant_url(require_current_tenant().slug, "/")
    return RELATIVE_LINK.sub(lambda match: f'{match.group(1)}="{base}', html)


def notice_message(notice: Notice) -> Message:
    """Render a notice into the e-mail its member gets, with a one-click unsubscribe."""
    tenant = require_current_tenant()
    unsubscribe = unsubscribe_url(member=notice.member, kind=notice.kind)
    context: dict[str, Any] = {
        "notice": notice,
        "member": notice.member,
        "workspace": tenant.name,
        "workspace_url": tenant_url(tenant.slug, "/"),
        "account_url": tenant_url(tenant.slug, "/account/"),
        "post_url": tenant_url(tenant.slug, f"/posts/{notice.post.pk}/") if notice.post else "",
        "unsubscribe_url": unsubscribe,
        "unsubscribe_what": KINDS[notice.kind],
    }
    if notice.comment is not None:
        context["post_url"] += f"#comment-{notice.comment.pk}"
        context["comment_html"] = absolute_links(notice.comment.body_html)
    if notice.post is not None:
        context["post_html"] = absolute_links(notice.post.body_html)
    folder = "notifications/email"
    return Message(
        subject=one_line(render_to_string(f"{folder}/{notice.template}_subject.txt", context)),
        body=render_to_string(f"{folder}/{notice.template}.txt", context),
        html_body=render_to_string(f"{folder}/{notice.template}.html", context),
        to=[notice.member.email],
        headers={
            "List-Unsubscribe": f"<{unsubscribe}>",
            "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
            "Auto-Submitted": "auto-generated",
            "X-Auto-Response-Suppress": "All",
        },
    )
