"""Read posts and comments, and search them."""

from __future__ import annotations

import re
import sqlite3
from dataclasses import dataclass

from django.core.paginator import Page, Paginator
from django.db import DatabaseError
from django.db.models import Prefetch, QuerySet
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.posts.models import Comment, Post, Tag
from apps.tenancy import work
from apps.tenancy.errors import sqlite_code
from apps.tenancy.exceptions import ApplicationError

# Characters that make a query FTS5 syntax rather than plain words.
FTS_SYNTAX = re.compile(r'["()*^:+]|\b(AND|OR|NOT|NEAR)\b')
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"
SEARCH_SQL = """
SELECT 'post', p.id,
       highlight(posts_post_fts, 0, %(open)s, %(close)s),
       snippet(posts_post_fts, 1, %(open)s, %(close)s, '…', 24),
       bm25(posts_post_fts, 5.0, 1.0) AS rank
  FROM posts_post_fts JOIN posts_post p ON p.id = posts_post_fts.rowid
 WHERE posts_post_fts MATCH %(query)s
UNION ALL
SELECT 'comment', p.id, p.title,
       snippet(posts_comment_fts, 0, %(open)s, %(close)s, '…', 24),
       bm25(posts_comment_fts) AS rank
  FROM posts_comment_fts JOIN posts_comment c ON c.id = posts_comment_fts.rowid
  JOIN posts_post p ON p.id = c.post_id
 WHERE posts_comment_fts MATCH %(query)s
 ORDER BY rank
 LIMIT %(limit)s
"""


class SearchSyntaxError(ApplicationError):
    """The search text is not a query SQLite full-text search understands."""


@dataclass(frozen=True)
class SearchHit:
    kind: str  # "post" or "comment"
    post_id: int
    title: SafeString
    snippet: SafeString


def post_list(*, tag: str | None = None, author_id: int | None = None) -> QuerySet[Post]:
    """Return the workspace's posts, newest first, optionally by tag or author."""
    posts = Post.objects.select_related("author")
    if tag:
        posts = posts.filter(tags__name=tag)
    if author_id:
        posts = posts.filter(author_id=author_id)
    return posts.order_by("-created_at", "-id")


def post_page(
    *, tag: str | None, author_id: int | None, number: str | None, per_page: int
) -> Page[Post]:
    """Return one page of posts, each with ``tag_names`` (one query for the page's tags)."""
    page = Paginator(post_list(tag=tag, author_id=author_id), per_page).get_page(number)
    names = post_tag_names(post_ids=[post.pk for post in page])
    for post in page:
        post.tag_names = names.get(post.pk, [])  # type: ignore[attr-defined]
    return page


def post_tag_names(*, post_ids: list[int]) -> dict[int, list[str]]:
    """Return the tag names of these posts, by name, in one query."""
    rows = (
        Post.tags.through.objects.filter(post_id__in=post_ids)
        .order_by("tag__name")
        .values_list("post_id", "tag__name")
    )
    names: dict[int, list[str]] = {}
    for post_id, name in rows:
        names.setdefault(post_id, []).append(name)
    return names


def post_get(*, pk: int) -> Post | None:
    """Return the post with this id in the current workspace, with its comments, or None."""
    comments = Comment.objects.select_related("author")
    posts = post_list().prefetch_related("tags", Prefetch("comments", queryset=comments))
    return posts.filter(pk=pk).first()


def comment_list(*, post_id: int) -> QuerySet[Comment]:
    """Return a post's comments, oldest first, with their authors."""
    return Comment.objects.select_related("author").filter(post_id=post_id)


def comment_get(*, pk: int) -> Comment | None:
    """Return the comment with this id in the current workspace, or None."""
    return Comment.objects.select_related("post").filter(pk=pk).first()


def tag_list() -> list[str]:
    """Return the names of the tags in use, by name."""
    return list(
        Tag.objects.filter(posts__isnull=False)
        .distinct()
        .order_by("name")
        .values_list("name", flat=True)
    )


def search(*, text: str, limit: int = 50) -> list[SearchHit]:
    """Return posts and comments matching the text, best first, with highlighted snippets.

    Plain words match as prefixes ("plan" finds "planning"); text with FTS5 syntax
    (quotes, OR, NEAR, *) is passed on as it is.
    """
    query = fts_query(text)
    if not query:
        return []
    params: dict[str, str | int] = {
        "query": query,
        "open": MARK_OPEN,
        "close": MARK_CLOSE,
        "limit": limit,
    }
    try:
        with work.cursor() as cursor:
            rows = cursor.execute(SEARCH_SQL, params).fetchall()
    except DatabaseError as exc:
        if sqlite_code(exc) != sqlite3.SQLITE_ERROR:  # busy, interrupted, damaged: not the query
            raise
        raise SearchSyntaxError(
            "Your search could not be understood. Check quotes and brackets, "
            "or search for plain words."
        ) from exc
    return [SearchHit(kind, pk, _marked(title), _marked(snip)) for kind, pk, title, snip, _ in rows]


def fts_query(text: str) -> str:
    """Turn search text into an FTS5 query: plain words become prefix terms."""
    text = text.strip()
    if FTS_SYNTAX.search(text):
        return text
    return " ".join(f'"{word}"*' for word in re.findall(r"\w+", text))


def _marked(text: str) -> SafeString:
    """Escape indexed text (it is Markdown source), then turn the match markers into <mark>."""
    escaped = escape(text).replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")
    return mark_safe(escaped)  # noqa: S308 (escaped above; only our markers become tags)
