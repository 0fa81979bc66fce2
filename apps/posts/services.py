"""Write posts."""

from __future__ import annotations

from apps.accounts.models import User
from apps.posts.models import Post


def post_create(*, author: User, title: str, body: str) -> Post:
    """Publish a post by this author in the current workspace."""
    return Post.objects.create(author=author, title=title.strip(), body=body)
