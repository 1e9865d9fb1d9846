"""Role checks for API handlers, pages and socket events (roles are additive)."""
from __future__ import annotations

import functools

from flask import abort, redirect, request, url_for
from flask_login import current_user

from core.errors import Forbidden, Unauthorized


def allowed(*roles: str) -> bool:
    if not current_user.is_authenticated:
        return False
    return not roles or any(current_user.has_role(role) for role in roles)


def require(*roles: str):
    """API handler guard: 401 when logged out, 403 without any of ``roles``."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                raise Unauthorized("Log in or send a bearer token.")
            if roles and not any(current_user.has_role(role) for role in roles):
                raise Forbidden(f"This needs the {' or '.join(roles)} role.")
            return view(*args, **kwargs)

        return wrapper

    return decorate


def page(*roles: str):
    """Page guard: logged out → /login?next=…; logged in without the role → 403 page."""

    def decorate(view):
        @functools.wraps(view)
        def wrapper(*args, **kwargs):
            if not current_user.is_authenticated:
                return redirect(url_for("accounts.login_page", next=request.full_path.rstrip("?")))
            if roles and not any(current_user.has_role(role) for role in roles):
                abort(403)
            return view(*args, **kwargs)

        return wrapper

    return decorate


def public(view):
    """Mark an API endpoint as reachable without login (login, CTI webhook, public KB)."""
    view.tsunagu_public = True
    return view


def is_public(view_function) -> bool:
    view_class = getattr(view_function, "view_class", None)
    return bool(getattr(view_function, "tsunagu_public", False) or getattr(view_class, "tsunagu_public", False))
