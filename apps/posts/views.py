from __future__ import annotations

from typing import Any, cast

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import FileResponse, Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.views.decorators.http import require_GET, require_POST

from apps.accounts.models import User
from apps.posts import pagecache
from apps.posts.attachments import (
    AttachmentRefused,
    attachment_create,
    attachment_get,
    attachment_markdown,
    attachment_url,
)
from apps.posts.forms import CommentForm, PostForm, SearchForm
from apps.posts.markdown import render_markdown
from apps.posts.models import Post
from apps.posts.selectors import (
    SearchSyntaxError,
    comment_get,
    comment_list,
    post_get,
    post_page,
    post_pinned_list,
    posts_new_since,
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
    post_set_pinned,
    post_update,
)
from apps.posts.visits import visit_read, visit_write

PAGE_SIZE = 20
# An attachment answers on its own, outside any page: nothing in it may run or be framed.
ATTACHMENT_CSP = "default-src 'none'; img-src 'self'; sandbox"


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
        by = author.pk if author else None
        page = post_page(tag=tag, author_id=by, number=number, per_page=PAGE_SIZE)
        pinned = post_pinned_list(tag=tag, author_id=by) if page.number == 1 else []
        context = {"page": page, "pinned": pinned, "tag": tag, "author": author}
        return {**context, "tags": tag_list(), "is_admin": is_admin}

    reader = member(request)
    is_admin = reader.is_workspace_admin  # admins see Pin / Unpin buttons
    body = pagecache.fragment(
        request, "posts", (tag, author_id, number, is_admin), "posts/parts/list.html", context
    )
    # Per reader, so outside the cached part; kept in a signed cookie, no write on a read.
    visit = visit_read(request, member_id=reader.pk, now=timezone.now())
    new_count, new_posts = (
        (0, []) if visit.since is None else posts_new_since(since=visit.since, reader_id=reader.pk)
    )
    page_context = {"body": body, "new_count": new_count, "new_posts": new_posts}
    response = render(request, "posts/list.html", page_context)
    visit_write(response, member_id=reader.pk, visit=visit)
    return response


@login_required
def post_new(request: HttpRequest) -> HttpResponse:
    """Write a post (or preview it, attached files included)."""
    if request.method == "POST" and "preview" in request.POST:
        return _post_preview(request, None)
    form = PostForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid() and _attach(request, form):
        post = post_create(author=member(request), **_post_fields(form))
        messages.success(request, "Post published.")
        return redirect("posts:detail", pk=post.pk)
    return render(request, "posts/form.html", {"form": form})


def _post_fields(form: PostForm) -> dict[str, Any]:
    return {name: form.cleaned_data[name] for name in ("title", "body", "tags")}


def _attach(request: HttpRequest, form: PostForm | CommentForm) -> bool:
    """Store the form's files, linking each at the end of its text; False on a refusal."""
    links = []
    for upload in form.cleaned_data.get("attachments") or []:
        try:
            attachment = attachment_create(uploader=member(request), upload=upload)
        except AttachmentRefused as exc:
            form.add_error("attachments", str(exc))
            return False
        links.append(attachment_markdown(attachment))
    if links:
        form.cleaned_data["body"] = "\n\n".join([form.cleaned_data["body"].rstrip(), *links])
    return True


def _post_preview(request: HttpRequest, post: Post | None) -> HttpResponse:
    """Show the form again with the text rendered above it; files sent are attached first."""
    form = PostForm(request.POST, request.FILES)
    form.is_valid()  # errors stay unshown: a preview needs no title
    upload_error = ""
    body = request.POST.get("body", "")
    if "attachments" in form.cleaned_data:
        form.cleaned_data["body"] = body
        if not _attach(request, form):
            upload_error = " ".join(str(error) for error in form.errors["attachments"])
        body = form.cleaned_data.get("body", body)
    initial = {"title": request.POST.get("title", ""), "body": body}
    initial["tags"] = request.POST.get("tags", "")
    context = {
        "form": PostForm(initial=initial),
        "post": post,
        "preview": _rendered(body),
        "upload_error": upload_error,
    }
    return render(request, "posts/form.html", context)


def _rendered(source: str) -> SafeString:
    return mark_safe(render_markdown(source))  # noqa: S308 (sanitised by the renderer)


@login_required
def post_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """Show a post and its comments; take a new comment (or preview it)."""
    form = CommentForm(request.POST or None, request.FILES or None)
    preview = None
    if request.method == "POST" and form.is_valid() and _attach(request, form):
        if "preview" in request.POST:
            preview = _rendered(form.cleaned_data["body"])
            form = CommentForm(initial={"body": form.cleaned_data["body"]})
        else:
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
        "can_pin": user.is_workspace_admin,
        "pinned": article.get("pinned", False),
        "comments": pagecache.fragment(
            request,
            "comments",
            (pk, viewer),
            "posts/parts/comments.html",
            lambda: _comments(pk, user),
        ),
        "form": form,
        "form_html": None
        if form.is_bound or preview is not None
        else pagecache.blank_form(request, "comment", CommentForm),
        "preview": preview,
    }
    return render(request, "posts/detail.html", context)


def _article(pk: int) -> dict[str, Any]:
    """Return the post's title, author and rendered article; {} if there is no such post."""
    post = post_get(pk=pk)
    if post is None:
        return {}  # remembered too: asking again costs nothing until the next write
    tags = [tag.name for tag in post.tags.all()]
    html = pagecache.render("posts/parts/post.html", {"post": post, "tags": tags})
    pinned = post.pinned_at is not None
    return {"title": post.title, "author_id": post.author_id, "html": html, "pinned": pinned}


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
    if request.method == "POST" and "preview" in request.POST:
        return _post_preview(request, post)
    form = PostForm(request.POST or None, request.FILES or None, initial=initial)
    if request.method == "POST" and form.is_valid() and _attach(request, form):
        post_update(post=post, user=member(request), **_post_fields(form))
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
def post_pin(request: HttpRequest, pk: int) -> HttpResponse:
    """Pin a post to the top of the list, or unpin it (admins)."""
    post = found(post_get(pk=pk))
    pinned = request.POST.get("pinned") == "1"
    try:
        post_set_pinned(post=post, user=member(request), pinned=pinned)
    except NotAllowed as exc:
        raise PermissionDenied(str(exc)) from exc
    messages.success(request, f"{'Pinned' if pinned else 'Unpinned'} “{post.title}”.")
    if request.POST.get("next") == "list":
        return redirect("posts:list")
    return redirect("posts:detail", pk=pk)


@login_required
def comment_remove(request: HttpRequest, pk: int) -> HttpResponse:
    """Confirm, then delete a comment (its author or an admin)."""
    comment = comment_get(pk=pk)
    if comment is None:
        raise Http404("No such comment in this workspace.")
    if request.method != "POST":
        if not can_change(user=member(request), author_id=comment.author_id):
            raise PermissionDenied("Only the author or a workspace admin can delete this comment.")
        context = {
            "title": "Delete this comment?",
            "text": "It will be gone for good.",
            "button": "Delete comment",
            "cancel": reverse("posts:detail", args=[comment.post_id]),
        }
        return render(request, "confirm.html", context)
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


@require_POST
def preview(request: HttpRequest) -> HttpResponse:
    """Return the HTML a Markdown text renders to, for the editor's script."""
    if not request.user.is_authenticated:
        raise Http404("Sign in to preview.")
    source = request.POST.get("body", "")
    html = _rendered(source) if source.strip() else '<p class="muted">Nothing to preview yet.</p>'
    return HttpResponse(html, content_type="text/html; charset=utf-8")


@require_POST
def attachment_upload(request: HttpRequest) -> JsonResponse:
    """Store one file sent by the editor's script; answer with the Markdown that shows it."""
    if not request.user.is_authenticated:
        raise Http404("Sign in to attach files.")
    upload = request.FILES.get("file")
    if upload is None:
        return JsonResponse({"error": "Choose a file to attach."}, status=400)
    try:
        attachment = attachment_create(uploader=member(request), upload=upload)
    except AttachmentRefused as exc:
        return JsonResponse({"error": str(exc)}, status=400)
    payload = {
        "id": attachment.pk,
        "name": attachment.name,
        "url": attachment_url(attachment),
        "image": attachment.is_image,
        "markdown": attachment_markdown(attachment),
    }
    return JsonResponse(payload, status=201)


@require_GET
def attachment_serve(request: HttpRequest, pk: int, name: str) -> FileResponse:
    """Send an attachment to a member of its workspace; anyone else finds nothing here."""
    attachment = attachment_get(pk=pk) if request.user.is_authenticated else None
    if attachment is None:
        raise Http404("No such file in this workspace.")
    try:
        handle = attachment.file.open("rb")
    except FileNotFoundError:
        raise Http404("This file is no longer stored.") from None
    content_type = attachment.content_type
    if content_type.startswith("text/"):
        content_type += "; charset=utf-8"
    response = FileResponse(
        handle,
        content_type=content_type,
        as_attachment=not attachment.is_image,
        filename=attachment.name,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = ATTACHMENT_CSP
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response
