"""Validators shared by the product's forms."""

from __future__ import annotations

import unicodedata

from django.core.exceptions import ValidationError

# Control characters, line and paragraph separators, and format characters such as
# right-to-left overrides; the zero-width (non-)joiners stay, emoji and scripts need them.
REFUSED_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Zl", "Zp"})
ALLOWED_FORMAT_CHARACTERS = frozenset({"\u200c", "\u200d"})


def validate_one_line(value: str) -> None:
    """Refuse text with line breaks or invisible control characters (names, subjects)."""
    for character in value:
        if character in ALLOWED_FORMAT_CHARACTERS:
            continue
        if unicodedata.category(character) in REFUSED_CATEGORIES:
            raise ValidationError(
                "Use one line of visible text: no line breaks or control characters.",
                code="control_character",
            )


def one_line(value: str) -> str:
    """Return text with line breaks and control characters replaced by single spaces."""
    cleaned = "".join(
        " "
        if unicodedata.category(c) in REFUSED_CATEGORIES and c not in ALLOWED_FORMAT_CHARACTERS
        else c
        for c in value
    )
    return " ".join(cleaned.split())
