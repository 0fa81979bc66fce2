from __future__ import annotations

from django import forms

from apps.posts.services import InvalidTags, parse_tags


class PostForm(forms.Form):
    title = forms.CharField(max_length=200)
    body = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text="Markdown: **bold**, _italic_, [links](https://example.com), lists, `code`.",
    )
    tags = forms.CharField(
        required=False, help_text="Optional, separated by commas: planning, design."
    )

    def clean_tags(self) -> list[str]:
        try:
            return parse_tags(self.cleaned_data["tags"])
        except InvalidTags as exc:
            raise forms.ValidationError(str(exc)) from None


class CommentForm(forms.Form):
    body = forms.CharField(
        label="Add a comment", widget=forms.Textarea(attrs={"rows": 4}), help_text="Markdown."
    )


class SearchForm(forms.Form):
    q = forms.CharField(label="Search", required=False, max_length=200)
