"""``GET /api/v1/tickets/{id}/suggestions``: knowledge-base articles for a ticket.

It lives in the console package because it joins two domains that do not know each
other: the ticket (subject, latest customer message) and the knowledge base's search.
"""
from __future__ import annotations

from flask_smorest import Blueprint
from marshmallow import Schema, fields, validate
from sqlalchemy import select

from accounts.permissions import require
from extensions import db

blp = Blueprint("suggestions_api", __name__, url_prefix="/api/v1", description="Knowledge-base suggestions for tickets")


class SuggestionArgs(Schema):
    limit = fields.Integer(load_default=5, validate=validate.Range(1, 20))


def ticket_suggestions(ticket_id: int, limit: int = 5) -> list[dict]:
    from console.cti import CALL_SUBJECT
    from knowledge.suggest import suggest_for_text
    from tickets import service as tickets
    from tickets.models import Message, Ticket

    ticket = db.session.get(Ticket, ticket_id)  # usually in the session already (the pop)
    if ticket is None:
        tickets.get(ticket_id)  # the NotFound
    latest = db.session.scalar(select(Message.body).where(Message.ticket_id == ticket_id, Message.kind == "inbound")
                               .order_by(Message.id.desc()).limit(1))
    if not latest and ticket.subject.startswith(CALL_SUBJECT + " "):
        return []  # a new call's ticket: an automatic subject and no words of the customer yet
    return suggest_for_text(ticket.subject, latest or "", limit=limit)


@blp.route("/tickets/<int:ticket_id>/suggestions", methods=["GET"])
@require("operator")
@blp.arguments(SuggestionArgs, location="query")
@blp.response(200)
def get_suggestions(args, ticket_id):
    """Articles for the ticket's subject and latest customer message, best first."""
    return {"items": ticket_suggestions(ticket_id, args["limit"]), "next_cursor": None}
