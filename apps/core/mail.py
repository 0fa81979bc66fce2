"""E-mail: sent by the job worker (never in a request), subjects kept on one line."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.core.mail import EmailMessage, EmailMultiAlternatives, get_connection
from django.core.mail.backends.base import BaseEmailBackend

from apps.core.validators import one_line
from apps.jobs.queue import job_enqueue, workspace_task


def mail_enqueue(
    *,
    subject: str,
    body: str,
    to: list[str],
    html_body: str = "",
    headers: dict[str, str] | None = None,
) -> None:
    """Queue an e-mail from the current workspace; the worker sends it after the commit.

    No page waits for the mail server. A failed send is retried with backoff, then
    shows in ``failed_jobs`` for operators.
    """
    job_enqueue(
        email_send,
        subject=one_line(subject),
        body=body,
        to=to,
        html_body=html_body,
        headers=headers or {},
    )


@workspace_task
def email_send(
    *,
    subject: str,
    body: str,
    to: list[str],
    html_body: str = "",
    headers: dict[str, str] | None = None,
) -> None:
    """Send one queued e-mail; an error fails this attempt (the worker retries)."""
    message = EmailMultiAlternatives(subject=subject, body=body, to=to, headers=headers)
    if html_body:
        message.attach_alternative(html_body, "text/html")
    message.send()


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
