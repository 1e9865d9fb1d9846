"""Ids in URLs.  ``<int:…>`` segments only match what an id column can hold (PostgreSQL
``integer``): a larger number names nothing, so it is a 404, not a driver overflow (500)."""
from __future__ import annotations

from werkzeug.routing import IntegerConverter

MAX_ID = 2**31 - 1


class DatabaseIdConverter(IntegerConverter):
    """Werkzeug's ``int`` converter bounded to 0..MAX_ID (documented as ``maximum``)."""

    def __init__(self, map, fixed_digits=0, min=None, max=MAX_ID, signed=False):  # noqa: A002 - werkzeug's names
        super().__init__(map, fixed_digits=fixed_digits, min=min, max=max, signed=signed)


def install(app) -> None:
    """Before any route is added: every ``<int:…>`` of the app uses the bounded converter."""
    app.url_map.converters["int"] = DatabaseIdConverter
