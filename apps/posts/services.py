"""Write posts and comments."""

from __future__ import annotations

import re
from typing import Any

from django.utils import timezone

from apps.accounts.models import User
from apps.notifications import services as notifications
from apps.notifications.mentions import link_mentions
from apps.posts import attachments
from apps.posts.markdown import render
from apps.posts.models import Comment, Post, Tag
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.routing.work import atomic

TAG_RE = re.compile(r"[a-z0-9][a-z0-9-]{0,39}")


class NotAllowed(ApplicationError):
    """The user may not change this post or comment."""


class InvalidTags(ApplicationError):
    """A tag is not a short lower-case word."""


def can_change(*, user: User, author_id: int) -> bool:
    """Return True if the user wrote it or administers the workspace."""
    return user.pk == author_id or user.is_workspace_admin


def parse_tags(text: str) -> list[str]:
    """Return the distinct tags in a comma- or space-separated list, lower-cased."""
    names = [name.strip().lower().lstrip("#") for name in re.split(r"[,\s]+", text)]
    names = list(dict.fromkeys(name for name in names if name))
    bad = [name for name in names if not TAG_RE.fullmatch(name)]
    if bad:
        raise InvalidTags(
            f"Tags are lower-case letters, digits and hyphens (up to 40): {', '.join(bad)}"
        )
    return names


@atomic()
def post_create(*, author: User, title: str, body: str, tags: list[str] | None = None) -> Post:
    """Publish a post by this author in the current workspace."""
    rendered, mentioned = _rendered(body)
    post = Post.objects.create(author=author, title=title.strip(), body=body, **rendered)
    _tags_set(post, tags or [])
    attachments.attachments_claim(body=body, uploader=author, post=post)
    notifications.post_published(post=post, mentioned=mentioned)
    return post


@atomic()
def post_update(*, post: Post, user: User, title: str, body: str, tags: list[str]) -> Post:
    """Edit a post; only its author or an admin may."""
    _require_change(user, post.author_id, "edit this post")
    post.title, post.body, old_html = title.strip(), body, post.body_html
    rendered, _ = _rendered(body)
    for name, value in rendered.items():
        setattr(post, name, value)
    post.edited_at = timezone.now()
    post.save(update_fields=["title", "body", *rendered, "edited_at"])
    _tags_set(post, tags)
    attachments.attachments_claim(body=body, uploader=user, post=post)
    notifications.post_edited(post=post, old_html=old_html)
    return post


@atomic()
def post_delete(*, post: Post, user: User) -> None:
    """Delete a post and its comments; only its author or an admin may."""
    _require_change(user, post.author_id, "delete this post")
    attachments.attachments_delete(post=post)
    post.delete()


@atomic()
def post_set_pinned(*, post: Post, user: User, pinned: bool) -> None:
    """Pin a post to the top of the list, or unpin it; only admins may."""
    if not user.is_workspace_admin:
        raise NotAllowed("Only workspace admins can pin posts.")
    post.pinned_at = timezone.now() if pinned else None
    post.save(update_fields=["pinned_at"])


@atomic()
def comment_create(*, post: Post, author: User, body: str) -> Comment:
    """Add a comment under a post."""
    rendered, mentioned = _rendered(body)
    comment = Comment.objects.create(
        post=post,
        author=author,
        body=body,
        body_html=rendered["body_html"],
        body_text=rendered["body_text"],
    )
    attachments.attachments_claim(body=body, uploader=author, post=post, comment=comment)
    notifications.comment_added(comment=comment, mentioned=mentioned)
    return comment


@atomic()
def comment_delete(*, comment: Comment, user: User) -> None:
    """Delete a comment; only its author or an admin may."""
    _require_change(user, comment.author_id, "delete this comment")
    attachments.attachments_delete(comment=comment)
    comment.delete()


def _rendered(body: str) -> tuple[dict[str, Any], list[int]]:
    """Return the rendered fields of a body, its @mentions linked, and who it mentions."""
    rendered = render(body)
    rendered["body_html"], mentioned = link_mentions(rendered["body_html"])
    return rendered, mentioned


def _require_change(user: User, author_id: int, action: str) -> None:
    if not can_change(user=user, author_id=author_id):
        raise NotAllowed(f"Only the author or a workspace admin can {action}.")


def _tags_set(post: Post, names: list[str]) -> None:
    tags = [Tag.objects.get_or_create(name=name)[0] for name in names]
    post.tags.set(tags)
