"""Optimistic locking over HTTP (CONTRACT §8): the version a client read, sent as body
``version`` or as ``If-Match``."""
from __future__ import annotations

from flask import request

from core.errors import Invalid


def if_match_version() -> int | None:
    """The version in ``If-Match`` (``"3"``, ``3`` or ``W/"3"``); absent or ``*``: no
    check (None); anything else is a 422."""
    raw = request.headers.get("If-Match")
    if raw is None or raw.strip() in ("", "*"):
        return None
    value = raw.strip().removeprefix("W/").strip().strip('"')
    if not value.isdigit() or len(value) > 10:
        raise Invalid('If-Match must carry the version, e.g. "3".', fields={"If-Match": ["not a version"]})
    return int(value)
