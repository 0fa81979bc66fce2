"""Read posts."""

from __future__ import annotations

from django.db.models import QuerySet

from apps.posts.models import Post


def post_list() -> QuerySet[Post]:
    """Return the workspace's posts, newest first, with their authors."""
    return Post.objects.select_related("author").order_by("-created_at", "-id")


def post_get(*, pk: int) -> Post | None:
    """Return the post with this id in the current workspace, or None."""
    return post_list().filter(pk=pk).first()
