"""Pages: the ticket list (/tickets) and the ticket view (/tickets/<id>)."""
from __future__ import annotations

from flask import Blueprint, abort, render_template, request
from flask_babel import gettext as _
from flask_login import current_user

from accounts import teams
from accounts.permissions import page
from extensions import db
from tickets.models import CHANNELS, PRIORITIES, STATUSES, Ticket

bp = Blueprint("tickets", __name__)


def _labels() -> dict:
    return {
        "new": _("New"), "open": _("Open"), "pending": _("Pending"), "on_hold": _("On hold"),
        "solved": _("Solved"), "closed": _("Closed"),
        "low": _("Low"), "normal": _("Normal"), "high": _("High"), "urgent": _("Urgent"),
        "phone": _("Phone"), "email": _("Email"), "web": _("Web"), "chat": _("Chat"),
        "platinum": _("Platinum"), "gold": _("Gold"), "silver": _("Silver"), "bronze": _("Bronze"),
        "rank_new": _("New customer"),
    }


def _strings() -> dict:
    return {**_labels(),
            "unassigned": _("Unassigned"), "no_tickets": _("No tickets match."), "load_more": _("Load more"),
            "overdue": _("overdue"), "due_in": _("due in"), "breached": _("SLA breached"), "paused": _("paused"),
            "first_response": _("First response"), "resolution": _("Resolution"), "met": _("met"),
            "viewing": _("Also viewing:"), "typing": _("typing…"), "you": _("you"),
            "stale": _("This ticket changed since you opened it. Reload to see the latest before sending."),
            "reload": _("Reload"), "saved": _("Saved"), "sent": _("Sent"), "queued": _("Queued"),
            "failed": _("Failed"), "retrying": _("failed, retrying"), "not_sent": _("Not sent"),
            "show_quoted": _("Show quoted text"), "hide_quoted": _("Hide quoted text"),
            "note": _("Internal note"), "reply": _("Reply"), "inbound": _("Customer"),
            "took": _("You took this ticket."), "empty_body": _("Write something first."),
            "attachments": _("Attachments"), "too_large": _("too large, not kept"),
            "linked": _("Follows closed ticket"), "automated": _("Automatic message")}


@bp.route("/tickets")
@page("operator")
def list_page():
    view = request.args.get("view", "mine")
    if view not in ("mine", "team", "unassigned", "all"):
        view = "mine"
    # "My team's" for someone in no team would just be empty: say why instead.
    teamless = view == "team" and not teams.team_ids_by_user([current_user.user_id]).get(current_user.user_id)
    return render_template("tickets/list.html", view=view, teamless=teamless, statuses=STATUSES,
                           channels=CHANNELS, ranks=("platinum", "gold", "silver", "bronze", "new"),
                           labels=_labels(), strings=_strings())


@bp.route("/tickets/<int:ticket_id>")
@page("operator")
def ticket_page(ticket_id: int):
    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        abort(404)
    return render_template("tickets/view.html", ticket=ticket, statuses=STATUSES, priorities=PRIORITIES,
                           labels=_labels(), strings=_strings())
