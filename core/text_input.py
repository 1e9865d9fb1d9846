"""Text no database can store is refused at the door: NUL characters (PostgreSQL ``text``
cannot hold them) and lone surrogates (not UTF-8; only JSON ``\\udxxx`` escapes make them).
Query strings, form fields and JSON bodies are checked before any handler runs, so such
input is a 422 in the contract's shape, never a driver error (500) halfway through a write.
Uploaded files are bytes and are not checked here."""
from __future__ import annotations

from flask import Flask, request
from werkzeug.exceptions import BadRequest

from core.errors import Invalid

MAX_DEPTH = 50


def problem(value: str) -> str | None:
    if "\x00" in value:
        return "must not contain NUL characters"
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return "is not valid Unicode text"
    return None


def _walk(data, path: str, depth: int = 0):
    """(path, problem) of every bad string in a JSON value, keys included."""
    if depth > MAX_DEPTH:
        return
    if isinstance(data, str):
        found = problem(data)
        if found:
            yield path or "body", found
    elif isinstance(data, dict):
        for key, value in data.items():
            if problem(key):  # reported on the object: the key itself cannot be echoed
                yield path or "body", "has a key that " + problem(key)
            else:
                yield from _walk(value, f"{path}.{key}".lstrip("."), depth + 1)
    elif isinstance(data, list):
        for index, value in enumerate(data):
            yield from _walk(value, f"{path}[{index}]", depth + 1)


def _found() -> dict:
    fields: dict[str, list[str]] = {}
    sources = [request.args]
    if request.mimetype in ("application/x-www-form-urlencoded", "multipart/form-data"):
        sources.append(request.form)
    for source in sources:
        for key, values in source.lists():
            for value in [key, *values]:
                found = problem(value)
                if found:
                    fields.setdefault(key if not problem(key) else "field name", []).append(found)
    if request.is_json:
        try:
            body = request.get_json(silent=True)
        except RecursionError:  # json.loads on thousands of nested brackets
            raise BadRequest("The JSON body is nested too deeply.") from None
        for path, found in _walk(body, ""):
            fields.setdefault(path, []).append(found)
    return fields


def register(app: Flask) -> None:
    @app.before_request
    def _refuse_unstorable_text():
        if request.endpoint is None or request.endpoint == "static":
            return None
        fields = _found()
        if not fields:
            return None
        if request.path.startswith("/api/"):
            raise Invalid("Text must be valid Unicode without NUL characters.", fields=fields)
        raise BadRequest("Text must be valid Unicode without NUL characters.")
