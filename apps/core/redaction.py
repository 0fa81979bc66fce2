"""Mask the secret tokens that some links carry, before a path or URL is logged."""

from __future__ import annotations

import re

# Links whose last segment is a secret: the sign-up hand-off (/welcome/<token>/), an
# invitation (/invitation/<token>/) and a password reset (/reset/<uidb64>/<token>/; Django
# then moves the token into the session and redirects to /reset/<uidb64>/set-password/).
TOKEN_IN_PATH = re.compile(
    r"(?P<prefix>/(?:welcome|invitation|reset/[^/?#\s]+)/)(?!set-password/)[^/?#\s\"]+"
)
REDACTED = "[redacted]"


def redact(text: str) -> str:
    """Return text (a path, URL or request line) with every link token masked."""
    return TOKEN_IN_PATH.sub(rf"\g<prefix>{REDACTED}", text)
