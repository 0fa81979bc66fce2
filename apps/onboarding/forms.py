from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation

from apps.accounts.models import User
from apps.core.validators import validate_one_line
from apps.tenancy.exceptions import InvalidSlug
from apps.tenancy.fleet.selectors import tenant_slug_available
from apps.tenancy.fleet.slugs import normalize_slug, validate_slug


class SignupForm(forms.Form):
    name = forms.CharField(label="Workspace name", max_length=200, validators=[validate_one_line])
    subdomain = forms.CharField(
        label="Subdomain", max_length=63, help_text="Lowercase letters, digits and hyphens."
    )
    your_name = forms.CharField(
        label="Your name",
        max_length=150,
        required=False,
        validators=[validate_one_line],
        help_text="How your team sees you; you can change it later on your account page.",
    )
    email = forms.EmailField(label="Your e-mail")
    password = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)

    def clean_subdomain(self) -> str:
        slug = normalize_slug(self.cleaned_data["subdomain"])
        try:
            validate_slug(slug)
        except InvalidSlug as exc:
            raise forms.ValidationError(str(exc)) from None
        if not tenant_slug_available(slug=slug):
            raise forms.ValidationError(f"The subdomain '{slug}' is already taken.")
        return slug

    def clean_email(self) -> str:
        return self.cleaned_data["email"].strip().lower()

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        password = cleaned.get("password")
        if password:
            probe = User(email=cleaned.get("email", ""), first_name=cleaned.get("your_name", ""))
            try:
                password_validation.validate_password(password, user=probe)
            except forms.ValidationError as exc:
                self.add_error("password", exc)
        return cleaned


class WorkspaceFinderForm(forms.Form):
    workspace = forms.CharField(label="Your workspace's subdomain", max_length=63)

    def clean_workspace(self) -> str:
        slug = normalize_slug(self.cleaned_data["workspace"])
        if tenant_slug_available(slug=slug):
            raise forms.ValidationError(f"There is no workspace at '{slug}'.")
        return slug
