"""The contract's error shape, ``{"error": {"code", "message", "fields"?}}``, everywhere
under /api, for every status including unexpected failures (CONTRACT §3, §8)."""
from __future__ import annotations

import logging

import marshmallow as ma
from flask import Flask, jsonify, request
from flask_smorest import Api
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)

CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    410: "gone",
    412: "precondition_failed",
    413: "too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    428: "precondition_required",
    429: "rate_limited",
    500: "internal_error",
    503: "unavailable",
}


class ApiError(Exception):
    """Raised by services and handlers; turned into the contract's error response."""

    status = 400

    def __init__(self, message: str, *, status: int | None = None, code: str | None = None,
                 fields: dict | None = None, **extra):
        super().__init__(message)
        self.message = message
        if status:
            self.status = status
        self.code = code or CODES.get(self.status, "error")
        self.fields = fields
        self.extra = extra


class NotFound(ApiError):
    status = 404


class Conflict(ApiError):
    status = 409


class Forbidden(ApiError):
    status = 403


class Unauthorized(ApiError):
    status = 401


class Invalid(ApiError):
    status = 422


def error_body(status: int, message: str, code: str | None = None, fields=None, **extra) -> dict:
    body = {"code": code or CODES.get(status, "error"), "message": message}
    if fields:
        body["fields"] = fields
    body.update(extra)
    return {"error": body}


def error_response(status: int, message: str, code: str | None = None, fields=None,
                   headers=None, **extra):
    response = jsonify(error_body(status, message, code, fields, **extra))
    response.status_code = status
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _fields_from_webargs(messages) -> dict | None:
    """webargs nests messages by location (json, query, form…); flatten to one dict."""
    if not isinstance(messages, dict):
        return None
    merged: dict = {}
    for location, errors in messages.items():
        if isinstance(errors, dict):
            merged.update(errors)
        else:
            merged[location] = errors
    return merged or None


def _http_exception_response(error: HTTPException):
    status = error.code or 500
    fields = None
    data = getattr(error, "data", None) or {}
    if status == 422 and "messages" in data:
        fields = _fields_from_webargs(data["messages"])
    message = data.get("message") if isinstance(data, dict) and data.get("message") else None
    if not message:
        message = error.description if status != 422 else "The request is not valid."
    headers = {}
    if status == 405 and getattr(error, "valid_methods", None):
        # schemathesis and HTTP itself expect Allow on 405 (TOOLING "Fuzzing").
        headers["Allow"] = ", ".join(error.valid_methods)
    if isinstance(data, dict) and data.get("headers"):
        headers.update(data["headers"])
    for key, value in (error.get_headers() or []):
        if key.lower() in ("retry-after", "allow", "www-authenticate"):
            headers[key] = value
    return error_response(status, message, fields=fields, headers=headers)


def schema_name(schema) -> str:
    """OpenAPI component names carry their package (``TicketsPreviewIn``), so two domains
    may both have a ``PreviewIn`` schema without clashing."""
    from apispec.ext.marshmallow.common import resolve_schema_cls

    cls = resolve_schema_cls(schema)
    name = cls.__name__.removesuffix("Schema") or cls.__name__
    package = cls.__module__.split(".")[0]
    prefix = "" if package in ("core", "marshmallow") else package.capitalize()
    return prefix + name


class _ErrorDetailSchema(ma.Schema):
    class Meta:
        unknown = ma.INCLUDE  # extra keys such as customer_id (CONTRACT §3 merge conflicts)

    code = ma.fields.String(required=True)
    message = ma.fields.String(required=True)
    fields = ma.fields.Raw()


class ErrorSchema(ma.Schema):
    """The contract's error body, documented for every operation's error answers."""

    error = ma.fields.Nested(_ErrorDetailSchema, required=True)


class ContractApi(Api):
    """flask-smorest Api whose HTTP errors use the contract's shape."""

    ERROR_SCHEMA = ErrorSchema

    def init_app(self, app, *args, **kwargs):
        # Runs before any blueprint is registered (so every <int:id> is bounded) and after
        # the login and CSRF checks (so text checks come after a 401 or a CSRF refusal).
        from core import ids, text_input

        ids.install(app)
        text_input.register(app)
        super().init_app(app, *args, **kwargs)

    def handle_http_exception(self, error):  # noqa: D401 - flask-smorest hook
        return _http_exception_response(error)


def wants_json() -> bool:
    return request.path.startswith("/api/") or request.accept_mimetypes.best == "application/json"


def register(app: Flask) -> None:
    """App-wide handlers: API paths answer JSON; pages answer HTML error pages."""
    from flask import render_template

    @app.errorhandler(ApiError)
    def _api_error(error: ApiError):
        return error_response(error.status, error.message, error.code, error.fields, **error.extra)

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException):
        if wants_json():
            return _http_exception_response(error)
        if error.code in (403, 404, 429):
            return render_template("error.html", status=error.code, description=error.description), error.code
        return error

    @app.errorhandler(Exception)
    def _unexpected(error: Exception):
        if isinstance(error, HTTPException):
            return _http_error(error)
        if _is_pool_timeout(error):  # overload, not a bug: no traceback
            log.warning("%s %s: no database connection came free within the pool's timeout",
                        request.method, request.path)
        else:
            log.exception("unexpected error on %s %s", request.method, request.path)
        from extensions import db
        try:
            db.session.rollback()
        except Exception:  # the session is mid-commit or its connection is gone: drop it
            db.session.remove()
        if _is_unavailable(error):
            return error_response(503, "A backing service is unavailable; try again shortly.",
                                  headers={"Retry-After": "2"})
        if wants_json():
            return error_response(500, "Something went wrong on our side; nothing was saved.")
        return render_template("error.html", status=500, description="Internal error"), 500


def _is_unavailable(error: Exception) -> bool:
    """Redis or database outages, and every pooled database connection busy, are a 503
    (retry), not a 500 (bug)."""
    try:
        import redis
        from sqlalchemy.exc import OperationalError
    except ImportError:  # pragma: no cover
        return False
    return isinstance(error, (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError,
                              OperationalError)) or _is_pool_timeout(error)


def _is_pool_timeout(error: Exception) -> bool:
    from sqlalchemy.exc import TimeoutError as PoolTimeout

    return isinstance(error, PoolTimeout)
