"""The /login page (a plain form: works without JavaScript) and /logout."""
from __future__ import annotations

from urllib.parse import urlsplit

from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_babel import gettext as _
from flask_login import current_user, login_user, logout_user

from accounts import service
from accounts.auth import throttled
from extensions import csrf

bp = Blueprint("accounts", __name__)


def _safe_next(target: str | None) -> str:
    """Only same-site paths are followed after login (no open redirect)."""
    if not target:
        return ""
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return ""
    return target


def home_for(user) -> str:
    if user.has_role("operator"):
        return url_for("console.console_page")
    if user.has_role("editor"):
        return "/kb"
    return url_for("console.console_page")


@bp.route("/login", methods=["GET", "POST"])
@throttled
def login_page():
    next_url = _safe_next(request.values.get("next"))
    if request.method == "GET":
        if current_user.is_authenticated:
            return redirect(next_url or home_for(current_user))
        return render_template("login.html", next=next_url, error=None)
    csrf.protect()
    user = service.authenticate(request.form.get("username", ""), request.form.get("password", ""))
    if user is None:
        return render_template("login.html", next=next_url, error=_("Wrong username or password."),
                               username=request.form.get("username", "")), 401
    session.clear()
    login_user(user)
    return redirect(next_url or home_for(user))


@bp.route("/logout", methods=["POST"])
def logout_page():
    logout_user()
    session.clear()
    return redirect(url_for("accounts.login_page"))


@bp.route("/")
def index():
    if current_user.is_authenticated:
        return redirect(home_for(current_user))
    return redirect(url_for("accounts.login_page"))
