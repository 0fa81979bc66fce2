from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from apps.accounts.models import User
from apps.posts import pagecache
from apps.posts.forms import CommentForm, PostForm, SearchForm
from apps.posts.models import Post
from apps.posts.selectors import (
    SearchSyntaxError,
    comment_get,
    comment_list,
    post_get,
    post_page,
    search,
    tag_list,
)
from apps.posts.services import (
    NotAllowed,
    can_change,
    comment_create,
    comment_delete,
    post_create,
    post_delete,
    post_update,
)

PAGE_SIZE = 20


def member(request: HttpRequest) -> User:
    """Return the signed-in member (views below require one)."""
    return cast(User, request.user)


def found(post: Post | None) -> Post:
    if post is None:
        raise Http404("No such post in this workspace.")
    return post


@login_required
def post_index(request: HttpRequest) -> HttpResponse:
    """List posts, newest first, optionally by tag or author."""
    tag = request.GET.get("tag") or None
    author_text = request.GET.get("author") or ""
    author_id = int(author_text) if author_text.isdigit() and len(author_text) < 19 else None
    number = request.GET.get("page")

    def context() -> dict[str, Any]:
        author = User.objects.filter(pk=author_id).first() if author_id else None
        page = post_page(
            tag=tag, author_id=author.pk if author else None, number=number, per_page=PAGE_SIZE
        )
        return {"page": page, "tag": tag, "author": author, "tags": tag_list()}

    body = pagecache.fragment(
        request, "posts", (tag, author_id, number), "posts/parts/list.html", context
    )
    return render(request, "posts/list.html", {"body": body})


@login_required
def post_new(request: HttpRequest) -> HttpResponse:
    """Write a post."""
    form = PostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        post = post_create(author=member(request), **form.cleaned_data)
        messages.success(request, "Post published.")
        return redirect("posts:detail", pk=post.pk)
    return render(request, "posts/form.html", {"form": form})


@login_required
def post_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a post and its comments; take a new comment."""
    form = CommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        post = found(post_get(pk=pk))
        comment_create(post=post, author=member(request), body=form.cleaned_data["body"])
        messages.success(request, "Comment added.")
        return redirect("posts:detail", pk=post.pk)
    article = pagecache.cached(request, "post", (pk,), lambda: _article(pk))
    if not article:
        raise Http404("No such post in this workspace.")
    user = member(request)
    viewer = "admin" if user.is_workspace_admin else user.pk
    context = {
        "post_id": pk,
        "title": article["title"],
        "article": mark_safe(article["html"]),  # noqa: S308 (rendered by parts/post.html)
        "can_change": can_change(user=user, author_id=article["author_id"]),
        "comments": pagecache.fragment(
            request,
            "comments",
            (pk, viewer),
            "posts/parts/comments.html",
            lambda: _comments(pk, user),
        ),
        "form": form,
        "form_html": None
        if form.is_bound
        else pagecache.blank_form(request, "comment", CommentForm),
    }
    return render(request, "posts/detail.html", context)


def _article(pk: int) -> dict[str, Any]:
    """Return the post's title, author and rendered article; {} if there is no such post."""
    post = post_get(pk=pk)
    if post is None:
        return {}  # remembered too: asking again costs nothing until the next write
    tags = [tag.name for tag in post.tags.all()]
    html = pagecache.render("posts/parts/post.html", {"post": post, "tags": tags})
    return {"title": post.title, "author_id": post.author_id, "html": html}


def _comments(pk: int, user: User) -> dict[str, Any]:
    """Return the context of a post's comments as this viewer sees them."""
    comments = list(comment_list(post_id=pk))
    deletable = {c.pk for c in comments if can_change(user=user, author_id=c.author_id)}
    return {"comments": comments, "deletable": deletable}


@login_required
def post_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Edit a post (its author or an admin)."""
    post = found(post_get(pk=pk))
    if not can_change(user=member(request), author_id=post.author_id):
        raise PermissionDenied("Only the author or a workspace admin can change this post.")
    initial = {
        "title": post.title,
        "body": post.body,
        "tags": ", ".join(t.name for t in post.tags.all()),
    }
    form = PostForm(request.POST or None, initial=initial)
    if request.method == "POST" and form.is_valid():
        post_update(post=post, user=member(request), **form.cleaned_data)
        messages.success(request, "Post updated.")
        return redirect("posts:detail", pk=post.pk)
    return render(request, "posts/form.html", {"form": form, "post": post})


@login_required
def post_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then delete a post (its author or an admin)."""
    post = found(post_get(pk=pk))
    if not can_change(user=member(request), author_id=post.author_id):
        raise PermissionDenied("Only the author or a workspace admin can change this post.")
    if request.method == "POST":
        post_delete(post=post, user=member(request))
        messages.success(request, f"Deleted “{post.title}”.")
        return redirect("posts:list")
    return render(request, "posts/confirm_delete.html", {"post": post})


@login_required
@require_POST
def comment_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Delete a comment (its author or an admin)."""
    comment = comment_get(pk=pk)
    if comment is None:
        raise Http404("No such comment in this workspace.")
    try:
        comment_delete(comment=comment, user=member(request))
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(request, "Comment deleted.")
    return redirect("posts:detail", pk=comment.post_id)


@login_required
def search_view(request: HttpRequest) -> HttpResponse:
    """Search posts and comments."""
    form = SearchForm(request.GET or None)
    text = form.cleaned_data["q"] if form.is_valid() else ""
    body = pagecache.fragment(
        request, "search", (text,), "posts/parts/search.html", lambda: _search(text)
    )
    return render(request, "posts/search.html", {"q": text, "body": body})


def _search(text: str) -> dict[str, Any]:
    hits, error = [], None
    if text:
        try:
            hits = search(text=text)
        except SearchSyntaxError as exc:
            error = str(exc)
    return {"q": text, "hits": hits, "error": error}
