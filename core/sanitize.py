"""The one HTML sanitiser of Tsunagu (CONTRACT §7), built on nh3 (Rust Ammonia).

Two allow-list policies: ``clean_mail_html`` for inbound mail, ``render_markdown`` for
operator replies and knowledge-base articles.  Nothing else in the product sanitises.
"""
from __future__ import annotations

import html as html_lib
import re

import nh3
from markdown_it import MarkdownIt

_COMMON_TAGS = {
    "a", "abbr", "b", "blockquote", "br", "code", "dd", "del", "div", "dl", "dt", "em", "h1", "h2",
    "h3", "h4", "h5", "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "s", "small",
    "span", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead", "tr", "u", "ul",
}
_MAIL_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"colspan", "rowspan", "align"},
    "th": {"colspan", "rowspan", "align"},
    "table": {"border", "cellpadding", "cellspacing"},
    "*": {"dir", "lang"},
}
_KB_ATTRIBUTES = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "td": {"align"},
    "th": {"align"},
    "code": {"class"},
    "h1": {"id"}, "h2": {"id"}, "h3": {"id"}, "h4": {"id"},
}
_BLOCKED_IMAGE = "data:image/gif;base64,R0lGODlhAQABAAAAACw="  # 1×1 blank


def _mail_attribute_filter(allow_remote_images: bool):
    def _filter(tag: str, attribute: str, value: str):
        if tag == "img" and attribute == "src":
            lowered = value.strip().lower()
            if lowered.startswith(("cid:", "data:image/")):
                return value
            if lowered.startswith(("http://", "https://")) and allow_remote_images:
                return value
            # Remote images track readers (web bugs): blocked by default.
            return _BLOCKED_IMAGE
        return value

    return _filter


def clean_mail_html(raw_html: str, *, allow_remote_images: bool = False) -> str:
    """Sanitised HTML of an inbound mail: no scripts, handlers, styles, forms, iframes or
    ``javascript:`` URLs; remote images replaced unless allowed."""
    return nh3.clean(
        raw_html or "",
        tags=_COMMON_TAGS,
        clean_content_tags={"script", "style", "title", "head", "template", "noscript"},
        attributes=_MAIL_ATTRIBUTES,
        attribute_filter=_mail_attribute_filter(allow_remote_images),
        url_schemes={"http", "https", "mailto", "tel", "cid", "data"},
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


_markdown = MarkdownIt("commonmark", {"html": False, "linkify": False, "typographer": False}).enable("table").enable("strikethrough")


def render_markdown(text: str) -> str:
    """Markdown (CommonMark + tables) to sanitised HTML.  Raw HTML in the source is shown
    as text, links may only be http(s), mailto, tel or site-relative."""
    rendered = _markdown.render(text or "")
    return nh3.clean(
        rendered,
        tags=_COMMON_TAGS,
        clean_content_tags={"script", "style"},
        attributes=_KB_ATTRIBUTES,
        url_schemes={"http", "https", "mailto", "tel"},
        link_rel="noopener noreferrer",
        strip_comments=True,
    )


_BLOCK_END = re.compile(r"</(p|div|h[1-6]|li|tr|blockquote|pre|table)>|<br\s*/?>", re.I)
_TAG = re.compile(r"<[^>]+>")


def html_to_text(value: str) -> str:
    """A plain-text rendering of (already sanitised or untrusted) HTML, for previews,
    search and the text alternative of a message."""
    cleaned = nh3.clean(value or "", tags=_COMMON_TAGS, clean_content_tags={"script", "style", "title", "head"},
                        attributes={}, strip_comments=True)
    text = _BLOCK_END.sub("\n", cleaned)
    text = html_lib.unescape(_TAG.sub("", text))
    lines = [re.sub(r"[ \t\u00a0]+", " ", line).strip() for line in text.splitlines()]
    return re.sub(r"\n{3,}", "\n\n", "\n".join(lines)).strip()


def text_to_html(text: str) -> str:
    """Escape plain text for display, keeping line breaks."""
    return "<p>" + html_lib.escape(text or "").replace("\n", "<br>") + "</p>"
