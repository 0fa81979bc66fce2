"""Read posts and comments, and search them."""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from django.core.paginator import Page, Paginator
from django.db import DatabaseError
from django.db.models import Count, QuerySet
from django.utils import timezone
from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from apps.accounts.models import User
from apps.posts.models import Comment, Post, Tag
from apps.tenancy.exceptions import ApplicationError
from apps.tenancy.routing import work
from apps.tenancy.routing.errors import sqlite_code

# Characters that make a query FTS5 syntax rather than plain words.
FTS_SYNTAX = re.compile(r'["()*^:+]|\b(AND|OR|NOT|NEAR)\b')
MARK_OPEN, MARK_CLOSE = "\x02", "\x03"
SEARCH_SQL = """
SELECT 'post', p.id, p.id,
       highlight(posts_post_fts, 0, %(open)s, %(close)s),
       snippet(posts_post_fts, 1, %(open)s, %(close)s, '…', 24),
       p.author_id, p.created_at,
       bm25(posts_post_fts, 5.0, 1.0) AS rank
  FROM posts_post_fts JOIN posts_post p ON p.id = posts_post_fts.rowid
 WHERE posts_post_fts MATCH %(query)s
UNION ALL
SELECT 'comment', p.id, c.id, p.title,
       snippet(posts_comment_fts, 0, %(open)s, %(close)s, '…', 24),
       c.author_id, c.created_at,
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
    item_id: int  # the post's or the comment's id
    title: SafeString
    snippet: SafeString
    author: User | None
    created_at: datetime
    tags: list[str]


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
    posts = post_list(tag=tag, author_id=author_id).filter(pinned_at__isnull=True)
    posts = posts.annotate(comment_count=Count("comments", distinct=True))
    page = cast("Page[Post]", Paginator(posts, per_page).get_page(number))
    _with_tag_names(list(page))
    return page


def post_pinned_list(*, tag: str | None, author_id: int | None) -> list[Post]:
    """Return the pinned posts (shown above the list, not in it), latest pin first."""
    posts = post_list(tag=tag, author_id=author_id).filter(pinned_at__isnull=False)
    posts = posts.annotate(comment_count=Count("comments", distinct=True))
    pinned: list[Post] = list(posts.order_by("-pinned_at", "-id"))
    _with_tag_names(pinned)
    return pinned


def _with_tag_names(posts: Sequence[Post]) -> None:
    names = post_tag_names(post_ids=[post.pk for post in posts])
    for post in posts:
        post.tag_names = names.get(post.pk, [])  # type: ignore[attr-defined]


def posts_new_since(*, since: datetime, reader_id: int, limit: int = 10) -> tuple[int, list[Post]]:
    """Return how many posts others wrote after ``since``, and the newest of them."""
    posts = Post.objects.filter(created_at__gt=since).exclude(author_id=reader_id)
    newest = list(posts.select_related("author").order_by("-created_at", "-id")[:limit])
    count = len(newest) if len(newest) < limit else posts.count()
    return count, newest


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
    """Return the post with this id in the current workspace, with its tags, or None.

    Its comments are read apart (``comment_list``), cached per viewer by the post page.
    """
    return post_list().prefetch_related("tags").filter(pk=pk).first()


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
    (quotes, OR, NEAR, *) is passed on as it is, and if SQLite cannot parse it
    (``Status: deploy``, ``c++``, a lone ``AND``, an unclosed quote) its words are
    searched for as plain words instead.
    """
    query = fts_query(text)
    if not query:
        return []
    try:
        rows = _search_rows(query, limit)
    except SearchSyntaxError:
        plain = plain_query(text)
        rows = _search_rows(plain, limit) if plain and plain != query else []
    return _hits(rows)


def _search_rows(query: str, limit: int) -> list[tuple[Any, ...]]:
    params: dict[str, str | int] = {
        "query": query,
        "open": MARK_OPEN,
        "close": MARK_CLOSE,
        "limit": limit,
    }
    try:
        with work.cursor() as cursor:
            return list(cursor.execute(SEARCH_SQL, params).fetchall())
    except DatabaseError as exc:
        if sqlite_code(exc) != sqlite3.SQLITE_ERROR:  # busy, interrupted, damaged: not the query
            raise
        raise SearchSyntaxError(
            "Your search could not be understood. Check quotes and brackets, "
            "or search for plain words."
        ) from exc


def _hits(rows: list[tuple[Any, ...]]) -> list[SearchHit]:
    """Turn result rows into hits with their authors and their posts' tags (two queries)."""
    authors = User.objects.in_bulk({row[5] for row in rows})
    tags = post_tag_names(post_ids=sorted({row[1] for row in rows}))
    return [
        SearchHit(
            kind=kind,
            post_id=post_id,
            item_id=item_id,
            title=_marked(title),
            snippet=_marked(snip),
            author=authors.get(author_id),
            created_at=_moment(created_at),
            tags=tags.get(post_id, []),
        )
        for kind, post_id, item_id, title, snip, author_id, created_at, _rank in rows
    ]


def _moment(value: datetime | str) -> datetime:
    """Return a stored date as an aware datetime (raw SQL gives SQLite's text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(value)
    return moment if timezone.is_aware(moment) else moment.replace(tzinfo=UTC)


def fts_query(text: str) -> str:
    """Turn search text into an FTS5 query: plain words become prefix terms."""
    text = text.strip()
    if FTS_SYNTAX.search(text):
        return text
    return plain_query(text)


def plain_query(text: str) -> str:
    """Return every word of the text as a term that must appear; 3+ letters match as prefixes."""
    words = re.findall(r"\w+", text)
    return " ".join(f'"{word}"*' if len(word) >= 3 else f'"{word}"' for word in words)


def _marked(text: str) -> SafeString:
    """Escape indexed text (plain text), then turn the match markers into <mark>."""
    escaped = escape(text).replace(MARK_OPEN, "<mark>").replace(MARK_CLOSE, "</mark>")
    return mark_safe(escaped)  # noqa: S308 (escaped above; only our markers become tags)
