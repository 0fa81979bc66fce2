from __future__ import annotations

from functools import lru_cache
from typing import Any
from zoneinfo import available_timezones

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


@lru_cache(maxsize=1)
def time_zone_choices() -> list[tuple[str, str]]:
    """Return the IANA time zones as choices, the workspace's default first."""
    zones = sorted(zone for zone in available_timezones() if "/" in zone or zone == "UTC")
    return [
        ("", "The workspace's default (UTC)"),
        *((zone, zone.replace("_", " ")) for zone in zones),
    ]


class ProfileForm(forms.Form):
    """The member's name, time zone and notification preferences."""

    first_name = forms.CharField(label="First name", max_length=150, validators=[validate_one_line])
    last_name = forms.CharField(
        label="Last name", max_length=150, required=False, validators=[validate_one_line]
    )
    time_zone = forms.ChoiceField(
        label="Time zone",
        choices=time_zone_choices,
        required=False,
        help_text="Dates and times are shown in this zone.",
    )
    notify_posts = forms.ChoiceField(
        label="E-mail me about new posts",
        choices=User.PostMail.choices,
        widget=forms.RadioSelect,
    )
    notify_comments = forms.BooleanField(
        label="E-mail me about comments on posts I wrote or commented on", required=False
    )
    notify_mentions = forms.BooleanField(
        label="E-mail me when someone mentions me (@name)", required=False
    )

    @classmethod
    def for_member(cls, member: User, data: Any = None) -> ProfileForm:
        initial = {name: getattr(member, name) for name in cls.base_fields}
        return cls(data, initial=initial)


class AvatarForm(forms.Form):
    picture = forms.FileField(
        label="Picture",
        required=False,
        help_text="PNG, JPEG, GIF or WebP, up to 512 KB. Without one, your initials are shown.",
        widget=forms.ClearableFileInput(
            attrs={"accept": "image/png,image/jpeg,image/gif,image/webp"}
        ),
    )
    remove = forms.BooleanField(label="Remove my picture", required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if not cleaned.get("picture") and not cleaned.get("remove"):
            raise forms.ValidationError("Choose a picture, or tick “Remove my picture”.")
        return cleaned


class EmailChangeForm(forms.Form):
    new_email = forms.EmailField(label="New e-mail address")
    password = forms.CharField(
        label="Your current password", widget=forms.PasswordInput, strip=False
    )

    def __init__(self, *args: Any, member: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.member = member

    def clean_new_email(self) -> str:
        return str(self.cleaned_data["new_email"]).strip().lower()

    def clean_password(self) -> str:
        password = str(self.cleaned_data["password"])
        if not self.member.check_password(password):
            raise forms.ValidationError("That is not your current password.")
        return password
