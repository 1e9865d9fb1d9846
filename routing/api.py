"""/api/v1: presence, operators, queues, the routing policy, offers."""
from __future__ import annotations

from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from marshmallow import INCLUDE, Schema, fields, validate

from accounts.permissions import require
from core.errors import Conflict, Forbidden, NotFound
from core.versioning import if_match_version
from extensions import db
from routing import engine, presence, stats, store
from routing.models import PRESENCES, Offer

blp = Blueprint("routing_api", __name__, url_prefix="/api/v1", description="Presence, operators, queues, routing policy, offers")


class PresenceIn(Schema):
    presence = fields.String(required=True, validate=validate.OneOf(PRESENCES))


class PolicyIn(Schema):
    class Meta:
        unknown = INCLUDE

    version = fields.Integer()
    offer_timeout_s = fields.Integer()
    wrap_up_s = fields.Integer()
    reject_cooldown_s = fields.Integer()
    capacity = fields.Dict(keys=fields.String(), values=fields.Integer())
    ranks = fields.Dict(keys=fields.String(), values=fields.Dict())


def _operator_user():
    if current_user.user_id is None:
        raise Conflict("An API token is not an operator.")
    return current_user


@blp.route("/operators/me/presence", methods=["PUT"])
@require("operator")
@blp.arguments(PresenceIn)
@blp.response(200)
def put_my_presence(body):
    """Set my presence; it stands until changed."""
    user = _operator_user()
    state = presence.set_presence(user, body["presence"])
    db.session.commit()
    return presence.as_event(user, state)


@blp.route("/operators/<int:user_id>/presence", methods=["PUT"])
@require("supervisor")
@blp.arguments(PresenceIn)
@blp.response(200)
def put_operator_presence(body, user_id):
    """A supervisor changes an operator's presence."""
    from accounts.models import User

    user = db.session.get(User, user_id)
    if user is None or not user.has_role("operator"):
        raise NotFound("No such operator.")
    state = presence.set_presence(user, body["presence"])
    db.session.commit()
    return presence.as_event(user, state)


@blp.route("/operators", methods=["GET"])
@require("supervisor")
@blp.response(200)
def list_operators():
    """Every operator with tier, skills, presence, load and capacity."""
    return {"items": stats.operators(), "next_cursor": None}


@blp.route("/queues", methods=["GET"])
@require("supervisor")
@blp.response(200)
def get_queues():
    """Per rank and channel: waiting, oldest_wait_s, assigned, sla_at_risk; totals; service level."""
    body = stats.queues()
    body["service_level"] = stats.service_level()
    body["history"] = stats.history()
    return body


@blp.route("/routing/policy")
class Policy(MethodView):
    @require("supervisor")
    @blp.response(200)
    def get(self):
        """The policy in force (valid input for PUT)."""
        return store.current_policy()

    @require("supervisor")
    @blp.arguments(PolicyIn)
    @blp.response(200)
    def put(self, body):
        """Replace the policy; send the version you read (stale → 409)."""
        expected = body.get("version")
        if expected is None:
            expected = if_match_version()
        saved = store.save_policy(body, expected, current_user.user_id)
        db.session.commit()
        return saved


def _my_offer(offer_id: int) -> Offer:
    offer = db.session.get(Offer, offer_id)
    if offer is None:
        raise NotFound("No such offer.")
    if offer.operator_id != current_user.user_id and not current_user.has_role("supervisor"):
        raise Forbidden("This offer is for another operator.")
    return offer


@blp.route("/offers/<int:offer_id>/accept", methods=["POST"])
@require("operator")
@blp.response(200)
def accept_offer(offer_id):
    offer = _my_offer(offer_id)
    if offer.state not in ("pending", "accepted"):
        raise Conflict(f"The offer is {offer.state}.", state=offer.state)
    engine.decide_offer(offer, "accept")
    db.session.commit()
    return store.offer_payload(offer)


@blp.route("/offers/<int:offer_id>/reject", methods=["POST"])
@require("operator")
@blp.response(200)
def reject_offer(offer_id):
    offer = _my_offer(offer_id)
    if offer.state == "accepted":
        raise Conflict("The offer was already accepted.", state=offer.state)
    engine.decide_offer(offer, "reject", reason="rejected")
    db.session.commit()
    return store.offer_payload(offer)


@blp.route("/offers", methods=["GET"])
@require("operator")
@blp.response(200)
def my_offers():
    """My pending offers (the console fetches them after a reconnect)."""
    from sqlalchemy import select

    rows = db.session.scalars(select(Offer).where(Offer.operator_id == current_user.user_id,
                                                  Offer.state == "pending").order_by(Offer.id)).all()
    return {"items": [store.offer_payload(o) for o in rows], "next_cursor": None}
