"""Security headers and CSRF for cookie-authenticated requests.

Bearer-token and CTI-token requests carry no cookie and need no CSRF token.  Logged-out
requests are not CSRF-checked here: the endpoint answers 401 first (CONTRACT §8).
"""
from __future__ import annotations

from flask import Flask, request
from flask_login import current_user
from flask_wtf.csrf import CSRFError

from core.errors import error_response

UNSAFE = {"POST", "PUT", "PATCH", "DELETE"}
CSP = ("default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; connect-src 'self' ws: wss:; media-src 'self' data:; "
       "font-src 'self' data:; frame-ancestors 'none'; base-uri 'self'; form-action 'self'; "
       "object-src 'none'")
# Endpoints reached without a session or with their own token.
CSRF_EXEMPT_PREFIXES = ("/api/v1/auth/login", "/api/v1/cti/")


def register(app: Flask) -> None:
    from extensions import csrf

    @app.before_request
    def _check_csrf():
        if request.method not in UNSAFE or request.path.startswith(CSRF_EXEMPT_PREFIXES):
            return None
        if request.headers.get("Authorization", "").startswith("Bearer "):
            return None
        if not current_user.is_authenticated:
            return None
        csrf.protect()
        return None

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError):
        return error_response(400, "Missing or invalid CSRF token (send X-CSRF-Token).",
                              code="csrf_failed")

    @app.after_request
    def _headers(response):
        headers = response.headers
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("Referrer-Policy", "same-origin")
        headers.setdefault("Permissions-Policy", "camera=(), microphone=(), geolocation=()")
        if request.path.startswith("/api/docs"):
            # Swagger UI needs an inline bootstrap script.
            headers.setdefault("Content-Security-Policy",
                               CSP.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'"))
        else:
            headers.setdefault("Content-Security-Policy", CSP)
        if request.path.startswith("/api/"):
            headers.setdefault("Cache-Control", "no-store")
        return response
