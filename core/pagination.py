"""Keyset pagination: opaque cursors and the ``{"items", "next_cursor"}`` envelope (CONTRACT §8)."""
from __future__ import annotations

import base64
import json

from marshmallow import Schema, fields, validate

from core.errors import Invalid

MAX_LIMIT = 200


class PageArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, MAX_LIMIT))
    cursor = fields.String(load_default=None)


def encode(values: list) -> str:
    return base64.urlsafe_b64encode(json.dumps(values, separators=(",", ":")).encode()).decode().rstrip("=")


def decode(cursor: str | None, size: int) -> list | None:
    """The values inside ``cursor`` (a list of ``size``), or None; a bad cursor is a 422."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        values = json.loads(base64.urlsafe_b64decode(padded.encode()))
    except (ValueError, UnicodeDecodeError):
        values = None
    if not isinstance(values, list) or len(values) != size:
        raise Invalid("The cursor is not valid.", fields={"cursor": ["not a cursor from this list"]})
    return values


def by_id_desc(statement, model, limit: int, cursor: str | None):
    """Newest-first page over ``model.id``; returns ``(rows, next_cursor)``."""
    from extensions import db

    after = decode(cursor, 1)
    if after is not None:
        if not isinstance(after[0], int):
            raise Invalid("The cursor is not valid.", fields={"cursor": ["invalid"]})
        statement = statement.where(model.id < after[0])
    rows = list(db.session.scalars(statement.order_by(model.id.desc()).limit(limit + 1)))
    next_cursor = encode([rows[limit - 1].id]) if len(rows) > limit else None
    return rows[:limit], next_cursor


def envelope(items: list, next_cursor: str | None, **extra) -> dict:
    return {"items": items, "next_cursor": next_cursor, **extra}
