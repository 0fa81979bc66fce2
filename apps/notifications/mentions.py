"""Plain ``@name`` mentions: found in the rendered HTML of a post or comment, linked to the person.

A member answers to ``@`` followed by the part of their e-mail address before the ``@``
(``@nora`` for nora@acme.example), their full name without spaces (``@NoraJones``) or
their first name (``@Nora``), in any letter case, as long as no other active member
answers to the same word. Text inside links and code is left alone, and so are e-mail
addresses (``nora@acme.example`` mentions nobody).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from django.urls import reverse
from django.utils.html import escape

from apps.accounts.models import User

MENTION = re.compile(r"(?<![\w@/.+-])@(\w[\w.-]*)")
TAG = re.compile(r"(<[^>]*>)")
SKIPPED_TAGS = frozenset({"a", "code", "pre"})
MENTION_LINK = re.compile(r'<a class="mention" href="[^"]*?/people/(\d+)/"')


def handles(members: Iterable[User]) -> dict[str, int]:
    """Return each word that names exactly one of these members, lower-cased, to its id."""
    seen: dict[str, set[int]] = {}
    for member in members:
        words = {
            member.email.split("@", 1)[0],
            "".join(member.get_full_name().split()),
            member.first_name.strip(),
        }
        for word in filter(None, words):
            seen.setdefault(word.lower(), set()).add(member.pk)
    return {word: ids.pop() for word, ids in seen.items() if len(ids) == 1}


def mentionable() -> dict[str, int]:
    """Return the handles of the workspace's active members."""
    return handles(
        User.objects.filter(is_active=True).only("pk", "email", "first_name", "last_name")
    )


def link_mentions(html: str, names: dict[str, int] | None = None) -> tuple[str, list[int]]:
    """Link every ``@name`` of a member in this HTML to their page; return it and their ids."""
    if "@" not in html:
        return html, []
    names = mentionable() if names is None else names
    found: list[int] = []
    pieces, skipping = [], 0
    for piece in TAG.split(html):
        if piece.startswith("<"):
            skipping += _depth_change(piece)
            pieces.append(piece)
        elif skipping or "@" not in piece:
            pieces.append(piece)
        else:
            pieces.append(MENTION.sub(lambda match: _link(match, names, found), piece))
    return "".join(pieces), list(dict.fromkeys(found))


def mentioned_ids(html: str) -> set[int]:
    """Return the ids of the members a rendered body links as mentions."""
    return {int(pk) for pk in MENTION_LINK.findall(html)}


def _depth_change(tag: str) -> int:
    match = re.match(r"<(/?)([a-zA-Z0-9]+)", tag)
    if not match or match.group(2).lower() not in SKIPPED_TAGS or tag.endswith("/>"):
        return 0
    return -1 if match.group(1) else 1


def _link(match: re.Match[str], names: dict[str, int], found: list[int]) -> str:
    word = match.group(1)
    trailing = ""
    pk = names.get(word.lower())
    if pk is None:  # "@nora." at the end of a sentence
        stripped = word.rstrip(".-")
        trailing, word = word[len(stripped) :], stripped
        pk = names.get(word.lower())
    if pk is None:
        return match.group(0)
    found.append(pk)
    href = reverse("accounts:person", args=[pk])
    return f'<a class="mention" href="{escape(href)}">@{word}</a>{trailing}'
