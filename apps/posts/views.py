from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from apps.accounts.models import User
from apps.posts.forms import CommentForm, PostForm, SearchForm
from apps.posts.models import Post
from apps.posts.selectors import (
    SearchSyntaxError,
    comment_get,
    post_get,
    post_list,
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
    author_id = request.GET.get("author")
    author = (
        User.objects.filter(pk=author_id).first() if author_id and author_id.isdigit() else None
    )
    posts = post_list(tag=tag, author_id=author.pk if author else None)
    page = Paginator(posts, PAGE_SIZE).get_page(request.GET.get("page"))
    context = {"page": page, "tag": tag, "author": author, "tags": tag_list()}
    return render(request, "posts/list.html", context)


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
    post = found(post_get(pk=pk))
    form = CommentForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        comment_create(post=post, author=member(request), body=form.cleaned_data["body"])
        messages.success(request, "Comment added.")
        return redirect("posts:detail", pk=post.pk)
    user = member(request)
    context = {
        "post": post,
        "form": form,
        "can_change": can_change(user=user, author_id=post.author_id),
        "deletable_comments": {
            c.pk for c in post.comments.all() if can_change(user=user, author_id=c.author_id)
        },
    }
    return render(request, "posts/detail.html", context)


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
    hits, error = [], None
    if text:
        try:
            hits = search(text=text)
        except SearchSyntaxError as exc:
            error = str(exc)
    return render(
        request, "posts/search.html", {"form": form, "q": text, "hits": hits, "error": error}
    )
