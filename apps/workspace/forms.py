from __future__ import annotations

from django import forms

from apps.core.validators import validate_one_line


class RenameForm(forms.Form):
    name = forms.CharField(label="Workspace name", max_length=200, validators=[validate_one_line])


class DeleteForm(forms.Form):
    confirm = forms.CharField(label="Type the subdomain to confirm")

    def __init__(self, *args: object, slug: str, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.slug = slug

    def clean_confirm(self) -> str:
        value = self.cleaned_data["confirm"].strip().lower()
        if value != self.slug:
            raise forms.ValidationError(f"Type '{self.slug}' exactly to delete this workspace.")
        return value


class DatabaseTokenForm(forms.Form):
    """A new token for the workspace's database over HTTP."""

    EXPIRY_CHOICES = [("30", "30 days"), ("90", "90 days"), ("365", "1 year"), ("", "Never")]

    name = forms.CharField(label="Token name", max_length=60, validators=[validate_one_line])
    access = forms.ChoiceField(
        label="Access",
        choices=[("read", "Read-only"), ("write", "Read and write")],
        initial="read",
    )
    expires = forms.ChoiceField(
        label="Expires after", choices=EXPIRY_CHOICES, initial="90", required=False
    )
