from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from apps.accounts.models import User
from apps.posts.forms import PostForm
from apps.posts.selectors import post_get, post_list
from apps.posts.services import post_create

PAGE_SIZE = 20


@login_required
def post_index(request: HttpRequest) -> HttpResponse:
    """List the workspace's posts, newest first."""
    page = Paginator(post_list(), PAGE_SIZE).get_page(request.GET.get("page"))
    return render(request, "posts/list.html", {"page": page})


@login_required
def post_new(request: HttpRequest) -> HttpResponse:
    """Write a post."""
    form = PostForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        post = post_create(author=cast(User, request.user), **form.cleaned_data)
        messages.success(request, "Post published.")
        return redirect("posts:detail", pk=post.pk)
    return render(request, "posts/form.html", {"form": form})


@login_required
def post_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show one post."""
    post = post_get(pk=pk)
    if post is None:
        raise Http404("No such post in this workspace.")
    return render(request, "posts/detail.html", {"post": post})
