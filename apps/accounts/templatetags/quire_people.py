"""``{% avatar member %}``: a member's picture, or their initials on a colour of their own."""

from __future__ import annotations

import hashlib

from django import template
from django.urls import reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString

from apps.accounts.models import User

register = template.Library()

# Background colours for initials (.avatar.c0 ... in quire.css; no inline styles under
# the CSP), each readable with white text.
COLOURS = 7


@register.simple_tag
def avatar(member: User | None, size: str = "") -> SafeString:
    """Return the member's picture, or their initials; decorative (the name is beside it)."""
    if member is None:
        return format_html("")
    css = f"avatar {size}".strip()
    if member.avatar:
        url = reverse("accounts:avatar", args=[member.pk])
        version = hashlib.blake2b(member.avatar.name.encode(), digest_size=4).hexdigest()
        return format_html('<img class="{}" src="{}?v={}" alt="">', css, url, version)
    colour = (member.pk or 0) % COLOURS
    return format_html(
        '<span class="{} initials c{}" aria-hidden="true">{}</span>', css, colour, member.initials
    )
