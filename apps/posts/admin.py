from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.posts.markdown import excerpt, render_markdown
from apps.posts.models import Comment, Post, Tag


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "created_at", "edited_at"]
    search_fields = ["title", "body"]
    list_select_related = ["author"]
    filter_horizontal = ["tags"]

    def save_model(self, request: HttpRequest, obj: Post, form: Any, change: bool) -> None:
        obj.body_html = render_markdown(obj.body)  # the pages show the rendered HTML
        obj.excerpt = excerpt(obj.body_html)
        super().save_model(request, obj, form, change)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["post", "author", "created_at"]
    list_select_related = ["post", "author"]

    def save_model(self, request: HttpRequest, obj: Comment, form: Any, change: bool) -> None:
        obj.body_html = render_markdown(obj.body)
        super().save_model(request, obj, form, change)


admin.site.register(Tag)
