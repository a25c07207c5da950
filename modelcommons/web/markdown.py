"""Cards to safe HTML: markdown-it-py renders, nh3 (ammonia) sanitises.

Rendering and sanitising are separate on purpose: whatever the renderer lets
through (raw HTML in a card, odd link schemes), the sanitiser's allow-list
decides what reaches the browser. Both are well-kept libraries; writing either
by hand would be the riskier choice.
"""

from __future__ import annotations

import re

import nh3
from markdown_it import MarkdownIt
from pygments import highlight
from pygments.formatters import HtmlFormatter
from pygments.lexers import get_lexer_by_name, guess_lexer_for_filename
from pygments.util import ClassNotFound

ALLOWED_TAGS = {
    "a",
    "abbr",
    "b",
    "blockquote",
    "br",
    "code",
    "dd",
    "del",
    "details",
    "div",
    "dl",
    "dt",
    "em",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "hr",
    "i",
    "img",
    "kbd",
    "li",
    "ol",
    "p",
    "pre",
    "s",
    "span",
    "strong",
    "sub",
    "summary",
    "sup",
    "table",
    "tbody",
    "td",
    "th",
    "thead",
    "tr",
    "ul",
}
ALLOWED_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "span": {"class"},
    "div": {"class"},
    "code": {"class"},
    "pre": {"class"},
    "td": {"align"},
    "th": {"align"},
    "ol": {"start"},
}
URL_SCHEMES = {"http", "https", "mailto"}
MAX_CARD_CHARS = 512 * 1024
FORMATTER = HtmlFormatter(cssclass="hl")
FENCE_FORMATTER = HtmlFormatter(nowrap=True)
_FRONT = re.compile(r"\A(?:[ \t]*\r?\n)*---[ \t]*\r?\n.*?^---[ \t]*\r?$\n?", re.S | re.M)


def _highlight_fence(code: str, lang: str, _attrs: str) -> str:
    try:
        lexer = get_lexer_by_name(lang or "text")
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    return str(highlight(code, lexer, FENCE_FORMATTER))


_md = MarkdownIt("commonmark", {"html": True, "highlight": _highlight_fence}).enable(
    ["table", "strikethrough"]
)


def sanitize(html: str) -> str:
    return str(
        nh3.clean(
            html,
            tags=ALLOWED_TAGS,
            attributes=ALLOWED_ATTRIBUTES,
            url_schemes=URL_SCHEMES,
            link_rel="nofollow noopener noreferrer",
            strip_comments=True,
        )
    )


def render_card(text: str) -> str:
    """README.md (front matter removed) as sanitised HTML."""
    body = _FRONT.sub("", text[:MAX_CARD_CHARS], count=1)
    return sanitize(_md.render(body))


def render_comment(text: str) -> str:
    """A discussion comment as sanitised HTML: the card's renderer and sanitiser."""
    return sanitize(_md.render(text[:MAX_CARD_CHARS]))


def highlight_file(path: str, text: str) -> str:
    """A highlighted, escaped preview of a text file."""
    try:
        lexer = guess_lexer_for_filename(path, text[:4096])
    except ClassNotFound:
        lexer = get_lexer_by_name("text")
    return sanitize(str(highlight(text, lexer, FORMATTER)))


def pygments_css() -> str:
    scopes = [".hl", "pre code"]
    light = FORMATTER.get_style_defs(scopes)  # type: ignore[no-untyped-call]
    dark = HtmlFormatter(style="monokai").get_style_defs(scopes)  # type: ignore[no-untyped-call]
    return f"{light}\n@media (prefers-color-scheme: dark) {{\n{dark}\n}}\n"
