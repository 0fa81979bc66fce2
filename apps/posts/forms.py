from __future__ import annotations

from typing import Any

from django import forms
from django.core.files.uploadedfile import UploadedFile

from apps.posts.services import InvalidTags, parse_tags

EDITOR_ATTRS = {"data-editor-body": "", "spellcheck": "true"}
FILES_HELP = (
    "Images (PNG, JPEG, GIF, WebP) show in the text; other files are linked. "
    "You can also drag files onto the text box or paste them."
)


class MultipleFileInput(forms.ClearableFileInput):
    allow_multiple_selected = True


class MultipleFileField(forms.FileField):
    """Several files in one field (Django's documented recipe); none is fine."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("widget", MultipleFileInput())
        kwargs.setdefault("required", False)
        super().__init__(*args, **kwargs)

    def clean(self, data: Any, initial: Any = None) -> list[UploadedFile]:
        single = super().clean
        if isinstance(data, list | tuple):
            return [single(item, initial) for item in data if item]
        return [single(data, initial)] if data else []


class PostForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12, **EDITOR_ATTRS}),
        help_text=(
            "Markdown: **bold**, _italic_, [links](https://example.com), lists, "
            "- [ ] tasks, `code` and ```python fenced code```."
        ),
    )
    tags = forms.CharField(
        required=False, help_text="Optional, separated by commas: planning, design."
    )

    def clean_tags(self) -> list[str]:
        try:
            return parse_tags(self.cleaned_data["tags"])
        except InvalidTags as exc:
            raise forms.ValidationError(str(exc)) from None

    attachments = MultipleFileField(label="Attach files", help_text=FILES_HELP)


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Add a comment",
        widget=forms.Textarea(attrs={"rows": 4, **EDITOR_ATTRS}),
        help_text="Markdown.",
    )
    attachments = MultipleFileField(label="Attach files", help_text=FILES_HELP)


class SearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
