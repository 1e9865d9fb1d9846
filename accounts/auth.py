"""How a request or socket is authenticated: session cookie or bearer token; and the
failed-login throttle shared by the login page and the login API."""
from __future__ import annotations

from flask import current_app, g, request
from flask_limiter.util import get_remote_address

from extensions import limiter, login_manager


def _throttle_limit() -> str:
    return current_app.config["LOGIN_FAILURE_LIMIT"]


def _login_username() -> str:
    data = request.get_json(silent=True) if request.is_json else request.form
    username = (data or {}).get("username") if isinstance(data, dict) or hasattr(data, "get") else None
    return "login-user:" + (str(username or "").strip().lower())


def _failed(response) -> bool:
    # Only failures count (CONTRACT §8): 401 from the API, the page re-rendered with 401.
    return response.status_code == 401


def throttled(view):
    """Failed logins are limited per username and per client address."""
    view = limiter.shared_limit(_throttle_limit, scope="login-user", key_func=_login_username,
                                deduct_when=_failed)(view)
    view = limiter.shared_limit(_throttle_limit, scope="login-addr", key_func=get_remote_address,
                                deduct_when=_failed)(view)
    return view


def init(app) -> None:
    from flask_login import current_user

    from accounts.models import ApiToken, TokenPrincipal, User
    from accounts.permissions import is_public
    from accounts.service import TOKEN_COPIES, USER_COPIES, load_user, touch_token, verify_token
    from core.errors import error_response

    @app.before_request
    def _api_needs_login():
        """Every API endpoint but the public ones answers 401 to logged-out requests,
        before CSRF and before validation (CONTRACT §8)."""
        if (not request.path.startswith("/api/v1/") or request.endpoint is None
                or request.endpoint.startswith("api-docs.")):
            return None
        view = app.view_functions.get(request.endpoint)
        if view is None or is_public(view) or current_user.is_authenticated:
            return None
        return error_response(401, "Log in or send a bearer token.")

    login_manager.login_view = "accounts.login_page"
    login_manager.session_protection = "basic"
    USER_COPIES.init_app(app, User)
    TOKEN_COPIES.init_app(app, ApiToken)

    @login_manager.user_loader
    def _load_user(user_id: str):
        try:
            user = load_user(int(user_id))
        except (TypeError, ValueError):
            return None
        return user if user is not None and user.active else None

    @login_manager.request_loader
    def _load_from_bearer(req):
        header = req.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return None
        token = verify_token(header[len("Bearer "):], "api")
        if token is None:
            return None
        touch_token(token)
        g.api_token = token
        return TokenPrincipal(token)
