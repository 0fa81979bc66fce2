from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from apps.posts.attachments import attachment_rows_delete
from apps.posts.markdown import render
from apps.posts.models import Attachment, Comment, Post, Tag


@admin.register(Post)
class PostAdmin(admin.ModelAdmin):
    list_display = ["title", "author", "created_at", "edited_at"]
    search_fields = ["title", "body"]
    list_select_related = ["author"]
    filter_horizontal = ["tags"]

    def save_model(self, request: HttpRequest, obj: Post, form: Any, change: bool) -> None:
        for name, value in render(obj.body).items():  # the pages show the rendered HTML
            setattr(obj, name, value)
        super().save_model(request, obj, form, change)


@admin.register(Comment)
class CommentAdmin(admin.ModelAdmin):
    list_display = ["post", "author", "created_at"]
    list_select_related = ["post", "author"]

    def save_model(self, request: HttpRequest, obj: Comment, form: Any, change: bool) -> None:
        rendered = render(obj.body)
        obj.body_html, obj.body_text = rendered["body_html"], rendered["body_text"]
        super().save_model(request, obj, form, change)


admin.site.register(Tag)


@admin.register(Attachment)
class AttachmentAdmin(admin.ModelAdmin):
    list_display = ["name", "content_type", "size", "uploader", "post", "created_at"]
    list_select_related = ["uploader", "post"]
    readonly_fields = ["file", "name", "content_type", "size", "uploader", "created_at"]

    def delete_model(self, request: HttpRequest, obj: Attachment) -> None:
        self.delete_queryset(request, Attachment.objects.filter(pk=obj.pk))

    def delete_queryset(self, request: HttpRequest, queryset: Any) -> None:
        """Delete the rows and, once that commits, their files (else they would stay)."""
        attachment_rows_delete(queryset)
