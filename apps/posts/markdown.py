"""Markdown to safe HTML, for posts and comments."""

from __future__ import annotations

import nh3
from django.utils.html import strip_tags
from django.utils.text import Truncator
from markdown_it import MarkdownIt

EXCERPT_WORDS = 40

# Raw HTML in the source is shown as text, never interpreted.
_renderer = MarkdownIt("commonmark", {"html": False}).enable(["table", "strikethrough"])


def render_markdown(source: str) -> str:
    """Return sanitised HTML: no scripts, no event handlers, links marked noopener nofollow."""
    return nh3.clean(
        _renderer.render(source),
        link_rel="noopener nofollow",
        url_schemes={"http", "https", "mailto"},
    )


def excerpt(html: str) -> str:
    """Return the first words of rendered HTML as plain text, for post lists."""
    return Truncator(" ".join(strip_tags(html).split())).words(EXCERPT_WORDS)
