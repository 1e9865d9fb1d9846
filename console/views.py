"""Pages: /console (operators) and /supervisor (supervisors)."""
from __future__ import annotations

from flask import Blueprint, render_template
from flask_login import current_user

from accounts.permissions import page
from extensions import db
from routing import presence

bp = Blueprint("console", __name__)


@bp.route("/console")
@page("operator")
def console_page():
    state = presence.state_of(current_user.id)
    db.session.commit()
    return render_template("console.html", presence=state.presence)


@bp.route("/supervisor")
@page("supervisor")
def supervisor_page():
    return render_template("supervisor.html")
