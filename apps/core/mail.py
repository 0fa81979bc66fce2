"""An e-mail backend that keeps subjects on one line, whatever the names in them hold."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from apps.core.validators import one_line


class OneLineSubjectBackend(BaseEmailBackend):
    """Send through QUIRE_EMAIL_BACKEND, each subject folded onto one line first.

    A line break in a header is refused by Django (BadHeaderError), so a workspace or
    member name holding one would otherwise make every e-mail naming it fail.
    """

    def __init__(self, fail_silently: bool = False, **kwargs: Any) -> None:
        super().__init__(fail_silently=fail_silently)
        self.inner = get_connection(
            settings.QUIRE_EMAIL_BACKEND, fail_silently=fail_silently, **kwargs
        )

    def open(self) -> bool | None:
        return self.inner.open()

    def close(self) -> None:
        self.inner.close()

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        for message in email_messages:
            message.subject = one_line(str(message.subject))
        return int(self.inner.send_messages(email_messages) or 0)
