"""/admin: users and tokens (admins), the routing policy form (supervisors too)."""
from flask import Blueprint, render_template

from accounts.permissions import page

bp = Blueprint("admin", __name__)


@bp.route("/admin")
@page("supervisor")
def admin_page():
    from routing import policy

    return render_template("admin.html", ranks=policy.RANK_ORDER, channels=policy.CHANNELS)
