"""Where the quoted earlier conversation starts in a plain-text mail body, so the UI can
fold it away ("On … wrote:", "2026年1月5日 … 書きました:", "> …", Outlook separators)."""
from __future__ import annotations

import re

_STARTS = [
    re.compile(r"^>"),
    re.compile(r"^On .{3,200}wrote:\s*$", re.I),
    re.compile(r"^On .{3,200}$", re.I),  # "On Mon, … <x@y>" wrapped before "wrote:"
    re.compile(r"^\d{4}[年/.-]\s*\d{1,2}[月/.-]\s*\d{1,2}.{0,200}(書きました|wrote)\s*[:：]?\s*$"),
    re.compile(r"^.{1,200}(さんは書きました|様は書きました|wrote)\s*[:：]\s*$"),
    re.compile(r"^-{2,}\s*(Original Message|Forwarded message|元のメッセージ|転送メッセージ)\s*-{2,}", re.I),
    re.compile(r"^_{10,}\s*$"),  # Outlook's rule above "From: …"
]


def quote_start(body: str | None) -> int | None:
    """Character offset where quoted text begins, or None (nothing to fold)."""
    if not body:
        return None
    offset = 0
    lines = body.splitlines(keepends=True)
    for index, line in enumerate(lines):
        text = line.strip()
        for pattern in _STARTS:
            if not pattern.search(text):
                continue
            if pattern.pattern == _STARTS[2].pattern:
                following = lines[index + 1].strip() if index + 1 < len(lines) else ""
                if not following.lower().endswith("wrote:"):
                    continue
            if offset == 0 or not body[:offset].strip():
                return None  # the whole message is a quote: show it
            return offset
        offset += len(line)
    return None
