"""Markdown to safe HTML, and the plain text of that HTML, for posts and comments.

Fenced code is highlighted on the server by Pygments (the fence's language kept as
``class="language-<name>"``), ``- [ ]`` / ``- [x]`` items render as disabled checkboxes,
and images render only from this workspace's own host (attachments): the page's CSP
allows no other, so an image from elsewhere becomes a link to it rather than a broken
icon. nh3 then keeps only the tags, attributes and classes listed here.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from html.parser import HTMLParser
from typing import Any

import nh3
from markdown_it import MarkdownIt
from markdown_it.common.utils import escapeHtml
from markdown_it.renderer import RendererHTML
from markdown_it.token import Token
from markdown_it.utils import EnvType, OptionsDict
from mdit_py_plugins.tasklists import tasklists_plugin
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_all_lexers, get_lexer_by_name
from pygments.token import STANDARD_TYPES
from pygments.util import ClassNotFound

EXCERPT_WORDS = 40
LIST_BULLET = "• "
BOX_CHECKED, BOX_OPEN = "☑ ", "☐ "
# Fenced code longer than this is shown plain: highlighting is for reading, not for dumps.
HIGHLIGHT_MAX_CHARS = 50_000

_formatter = HtmlFormatter(nowrap=True)


def _highlight(code: str, language: str, _attrs: str) -> str:
    """Return the code as Pygments' token spans, or "" (markdown-it escapes it) if unknown."""
    if not language or len(code) > HIGHLIGHT_MAX_CHARS:
        return ""
    try:
        lexer = get_lexer_by_name(language, stripnl=False)
    except ClassNotFound:
        return ""
    return highlight(code, lexer, _formatter)


def _image(
    self: RendererHTML, tokens: Sequence[Token], idx: int, options: OptionsDict, env: EnvType
) -> str:
    """Render an image from this host; an image from elsewhere as a link to it."""
    token = tokens[idx]
    source = str(token.attrGet("src") or "")
    if source.startswith("/") and not source.startswith("//"):
        return self.image(tokens, idx, options, env)
    label = self.renderInlineAsText(token.children or [], options, env) or source
    return f'<a href="{escapeHtml(source)}">{escapeHtml(label)}</a>'


def _renderer() -> MarkdownIt:
    # Raw HTML in the source is shown as text, never interpreted.
    md = MarkdownIt("commonmark", {"html": False, "highlight": _highlight})
    md.enable(["table", "strikethrough"]).use(tasklists_plugin)
    md.add_render_rule("image", _image)
    return md


_md = _renderer()
_TAGS = set(nh3.ALLOWED_TAGS) | {"input"}  # nh3's safe set, and task-list checkboxes


@lru_cache(maxsize=1)
def _allowed_classes() -> dict[str, set[str]]:
    languages = {alias for _name, aliases, _f, _m in get_all_lexers() for alias in aliases}
    return {
        "span": {name for name in STANDARD_TYPES.values() if name},
        "code": {f"language-{alias}" for alias in languages},
        "ul": {"contains-task-list"},
        "li": {"task-list-item"},
        "input": {"task-list-item-checkbox"},
    }


def render_markdown(source: str) -> str:
    """Return sanitised HTML: no scripts, no event handlers, links marked noopener nofollow."""
    return nh3.clean(
        _md.render(source),
        tags=_TAGS,
        link_rel="noopener nofollow",
        url_schemes={"http", "https", "mailto"},
        allowed_classes=_allowed_classes(),
        # A checkbox is all an <input> may be here, and it can never be ticked by a reader.
        tag_attribute_values={"input": {"type": {"checkbox"}, "checked": {"checked", ""}}},
        set_tag_attribute_values={"input": {"type": "checkbox", "disabled": "disabled"}},
    )


class _PlainText(HTMLParser):
    """Collect the text of rendered HTML, one line per block, list items bulleted."""

    BLOCKS = frozenset(
        {"p", "div", "pre", "blockquote", "ul", "ol", "li", "table", "tr", "hr", "br"}
        | {f"h{level}" for level in range(1, 7)}
    )

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.in_pre = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.in_pre += tag == "pre"
        if tag in self.BLOCKS:
            self.parts.append("\n")
        if tag == "li":
            self.parts.append(LIST_BULLET)
        elif tag == "input":
            self.parts.append(BOX_CHECKED if dict(attrs).get("checked") is not None else BOX_OPEN)
        elif tag == "img":
            self.parts.append(dict(attrs).get("alt") or "")
        elif tag in ("td", "th"):
            self.parts.append(" ")

    def handle_endtag(self, tag: str) -> None:
        self.in_pre -= tag == "pre" and self.in_pre > 0
        if tag in self.BLOCKS:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        # Line breaks in the HTML source mean nothing outside <pre>.
        self.parts.append(data if self.in_pre else data.replace("\n", " "))

    def text(self) -> str:
        lines = (" ".join(line.split()) for line in "".join(self.parts).splitlines())
        # A bullet whose item starts with a checkbox reads better as the checkbox alone.
        kept = (
            line.replace(LIST_BULLET + "☑", "☑").replace(LIST_BULLET + "☐", "☐") for line in lines
        )
        return "\n".join(line for line in kept if line and line != LIST_BULLET.strip())


def plain_text(html: str) -> str:
    """Return the text of rendered HTML: a line per paragraph, heading, item or code line."""
    parser = _PlainText()
    parser.feed(html)
    parser.close()
    return parser.text()


def excerpt(html: str) -> str:
    """Return the first words of rendered HTML as plain text, its line breaks kept."""
    return truncate_words(plain_text(html), EXCERPT_WORDS)


def truncate_words(text: str, count: int) -> str:
    """Return text cut after ``count`` words with "…", its line breaks kept."""
    words = list(re.finditer(r"\S+", text))
    if len(words) <= count:
        return text
    return text[: words[count - 1].end()] + "…"


def render(source: str) -> dict[str, Any]:
    """Return ``body_html``, ``body_text`` and ``excerpt`` of a Markdown source."""
    html = render_markdown(source)
    text = plain_text(html)
    return {"body_html": html, "body_text": text, "excerpt": truncate_words(text, EXCERPT_WORDS)}
