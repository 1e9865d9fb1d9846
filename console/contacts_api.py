"""``GET /api/v1/operators/me/contacts``: the logged-in operator's own latest contacts
(calls, mails, replies, notes…) across customers, for "my recent contacts" on the console."""
from __future__ import annotations

from flask_login import current_user
from flask_smorest import Blueprint

from accounts.permissions import require
from core.audit import record
from core.errors import Conflict
from core.pagination import PageArgs, envelope
from customers import timeline
from extensions import db

blp = Blueprint("contacts_api", __name__, url_prefix="/api/v1", description="An operator's recent contacts")


@blp.route("/operators/me/contacts", methods=["GET"])
@require("operator")
@blp.arguments(PageArgs, location="query")
@blp.response(200)
def my_contacts(args):
    """My contacts newest first: ``{id, kind, channel, direction, occurred_at, summary,
    ticket_id, customer_id, customer{id, name, rank}}``; ``cursor`` is the previous ``next_cursor``."""
    if current_user.user_id is None:
        raise Conflict("An API token is not an operator.")
    items, cursor = timeline.by_operator(current_user.user_id, args["limit"], args["cursor"])
    if items:
        # Customer names are personal data: the read is logged (an empty list shows none).
        shown = sorted({item["customer_id"] for item in items})
        record("customer.recent_contacts", detail={"customer_ids": shown})
        db.session.commit()
    return envelope(items, cursor)
