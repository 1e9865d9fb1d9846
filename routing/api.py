"""/api/v1/operators (presence and load)."""
from __future__ import annotations

from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate

from accounts.permissions import require
from core.errors import Conflict
from extensions import db
from routing import presence
from routing.models import PRESENCES

blp = Blueprint("routing_api", __name__, url_prefix="/api/v1", description="Operators and presence")


class PresenceIn(Schema):
    presence = fields.String(required=True, validate=validate.OneOf(PRESENCES))


@blp.route("/operators/me/presence", methods=["PUT"])
@blp.arguments(PresenceIn)
@blp.response(200)
@require("operator")
def put_my_presence(body):
    """Set my presence; it stands until changed."""
    if current_user.user_id is None:
        raise Conflict("An API token is not an operator.")
    state = presence.set_presence(current_user, body["presence"])
    db.session.commit()
    return presence.as_event(current_user, state)


@blp.route("/operators", methods=["GET"])
@blp.response(200)
@require("supervisor")
def list_operators():
    """Every operator with tier, skills and presence (load and capacity join with routing)."""
    from routing.board import operators

    return {"items": operators(), "next_cursor": None}
