"""Keyset pagination: opaque cursors and the ``{"items", "next_cursor"}`` envelope (CONTRACT §8)."""
from __future__ import annotations

import base64
import json
from datetime import UTC

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


def by_time_desc(statement, time_column, id_column, limit: int, cursor: str | None):
    """Newest-first keyset page over ``(time_column, id_column)`` (timelines, purchases):
    one index range scan however long the history; returns ``(rows, next_cursor)``."""
    from datetime import datetime

    from sqlalchemy import and_, or_

    from extensions import db

    after = decode(cursor, 2)
    if after is not None:
        try:
            moment, last_id = datetime.fromisoformat(after[0]), int(after[1])
        except (TypeError, ValueError):
            raise Invalid("The cursor is not valid.", fields={"cursor": ["not a cursor from this list"]}) from None
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        statement = statement.where(or_(time_column < moment, and_(time_column == moment, id_column < last_id)))
    rows = list(db.session.scalars(statement.order_by(time_column.desc(), id_column.desc()).limit(limit + 1)))
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode([getattr(last, time_column.key).isoformat(), getattr(last, id_column.key)])
    return rows[:limit], next_cursor
