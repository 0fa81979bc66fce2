from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth import password_validation
from django.contrib.auth.forms import PasswordResetForm
from django.template.loader import render_to_string

from apps.accounts.models import User
from apps.core.mail import mail_enqueue
from apps.core.validators import validate_one_line


class InviteForm(forms.Form):
    email = forms.EmailField(label="E-mail")
    role = forms.ChoiceField(choices=User.Role.choices, initial=User.Role.MEMBER)


class RoleForm(forms.Form):
    role = forms.ChoiceField(choices=User.Role.choices)


class AcceptInvitationForm(forms.Form):
    first_name = forms.CharField(max_length=150, validators=[validate_one_line])
    last_name = forms.CharField(max_length=150, required=False, validators=[validate_one_line])
    password1 = forms.CharField(label="Password", widget=forms.PasswordInput, strip=False)
    password2 = forms.CharField(label="Password again", widget=forms.PasswordInput, strip=False)

    def __init__(self, *args: Any, email: str, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.email = email

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        first, second = cleaned.get("password1"), cleaned.get("password2")
        if first and second and first != second:
            self.add_error("password2", "The two passwords differ.")
        elif first:
            probe = User(email=self.email, first_name=cleaned.get("first_name", ""))
            try:
                password_validation.validate_password(first, user=probe)
            except forms.ValidationError as exc:
                self.add_error("password1", exc)
        return cleaned


class QueuedPasswordResetForm(PasswordResetForm):
    """Django's password reset form; the e-mail goes through the job queue."""

    def send_mail(
        self,
        subject_template_name: str,
        email_template_name: str,
        context: dict[str, Any],
        from_email: str | None,
        to_email: str,
        html_email_template_name: str | None = None,
    ) -> None:
        html = (
            render_to_string(html_email_template_name, context) if html_email_template_name else ""
        )
        mail_enqueue(
            subject=render_to_string(subject_template_name, context),
            body=render_to_string(email_template_name, context),
            to=[to_email],
            html_body=html,
        )
