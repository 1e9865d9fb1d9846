"""/api/v1/tickets, /api/v1/macros, /api/v1/sla — thin handlers: validate → load and
authorise → service → dump (CONTRACT §3 "Tickets", §8)."""
from __future__ import annotations

from flask import Response
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from sqlalchemy import select

from accounts.permissions import require
from core.errors import NotFound
from core.pagination import PageArgs, by_id_desc, envelope
from core.sanitize import render_markdown
from core.versioning import if_match_version
from extensions import db
from tickets import macros, queries, service, sla
from tickets.models import Attachment, BusinessCalendar, Message, SlaPolicy, Ticket
from tickets.schemas import (
    MacroApplyIn,
    MacroIn,
    MacroOut,
    MacroPatchIn,
    MessageIn,
    MessageOut,
    PreviewIn,
    SlaPoliciesIn,
    TicketIn,
    TicketListArgs,
    TicketPatchIn,
    ticket_fields,
)

blp = Blueprint("tickets_api", __name__, url_prefix="/api/v1", description="Tickets, messages, macros, SLAs")

_message_out = MessageOut()


def expected_version(body: dict | None = None) -> int | None:
    """``version`` in the body, else ``If-Match: "3"`` / ``3`` (CONTRACT §8)."""
    if body and body.get("version") is not None:
        return int(body["version"])
    return if_match_version()


def ticket_json(ticket: Ticket, *, with_messages: bool = False, customers=None, names=None) -> dict:
    if customers is None:
        customers, names = queries.people([ticket])
    data = ticket_fields(ticket)
    customer = customers.get(ticket.customer_id)
    data["customer"] = {"id": customer.id, "name": customer.name, "rank": customer.rank} if customer else None
    data["assignee_name"] = names.get(ticket.assignee_id) if ticket.assignee_id else None
    if with_messages:
        data["messages"] = [_message_out.dump(m) for m in service.messages_of(ticket.id)]
    return data


def _with_etag(data: dict, version: int, status: int = 200) -> tuple:
    return data, status, {"ETag": f'"{version}"'}


@blp.route("/tickets")
class Tickets(MethodView):
    @require("operator")
    @blp.arguments(TicketListArgs, location="query")
    @blp.response(200)
    def get(self, args):
        """Tickets newest first: ``status`` (one or a comma list), ``assignee=me|none|ID``,
        ``team=mine|ID`` (assigned to a member of my teams / of that team), ``rank``, ``channel``,
        ``priority``, ``customer_id``, ``q`` (subject, customer, #id)."""
        statement = queries.list_statement(args, current_user)
        rows, cursor = by_id_desc(statement, Ticket, args["limit"], args["cursor"])
        customers, names = queries.people(rows)
        return envelope([ticket_json(t, customers=customers, names=names) for t in rows], cursor)

    @require("operator")
    @blp.arguments(TicketIn)
    @blp.response(201)
    def post(self, body):
        """Open a ticket for ``customer_id`` or a contact (found or created); routing starts."""
        ticket, customer, messages = service.create(body, current_user)
        db.session.commit()
        # Everything the answer needs is in hand: no queries after the commit.
        names = {current_user.user_id: current_user.display_name} if current_user.user_id else {}
        data = ticket_json(ticket, customers={customer.id: customer}, names=names)
        data["messages"] = [_message_out.dump(m) for m in messages]
        return _with_etag(data, ticket.version, 201)


@blp.route("/tickets/<int:ticket_id>")
class TicketItem(MethodView):
    @require("operator")
    @blp.response(200)
    def get(self, ticket_id):
        ticket = service.get(ticket_id)
        return _with_etag(ticket_json(ticket, with_messages=True), ticket.version)

    @require("operator")
    @blp.arguments(TicketPatchIn)
    @blp.response(200)
    def patch(self, body, ticket_id):
        """Change status, priority, assignee_id, tags (optimistic: ``version`` or If-Match)."""
        version = expected_version(body)
        body.pop("version", None)
        ticket = service.get(ticket_id, lock=True)
        service.update(ticket, body, current_user, expected_version=version)
        db.session.commit()
        return _with_etag(ticket_json(ticket, with_messages=True), ticket.version)


@blp.route("/tickets/<int:ticket_id>/messages")
class TicketMessages(MethodView):
    @require("operator")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200)
    def get(self, args, ticket_id):
        service.get(ticket_id)
        rows, cursor = by_id_desc(select(Message).where(Message.ticket_id == ticket_id), Message,
                                  args["limit"], args["cursor"])
        return envelope([_message_out.dump(m) for m in rows], cursor)

    @require("operator")
    @blp.arguments(MessageIn)
    @blp.response(201)
    def post(self, body, ticket_id):
        """A reply (mailed on email tickets, threaded) or an internal note.  A stale
        ``version`` is refused with 409: reload and read what changed first."""
        version = expected_version(body)
        ticket = service.get(ticket_id, lock=True)
        message = service.add_message(ticket, body=body["body"], kind=body["kind"], actor=current_user,
                                      expected_version=version, status=body.get("status"))
        db.session.commit()
        data = _message_out.dump(message)
        data["ticket_version"] = ticket.version
        data["ticket_status"] = ticket.status
        return _with_etag(data, ticket.version, 201)


@blp.route("/tickets/preview", methods=["POST"])
@require("operator")
@blp.arguments(PreviewIn)
@blp.response(200)
def preview(body):
    """The sanitised HTML a reply's Markdown becomes (the composer's preview)."""
    return {"html": render_markdown(body["body"])}


@blp.route("/tickets/attachments/<int:attachment_id>", methods=["GET"])
@require("operator")
@blp.response(200)
def download(attachment_id):
    attachment = db.session.get(Attachment, attachment_id)
    if attachment is None or attachment.omitted or attachment.data is None:
        raise NotFound("No such attachment (or it was too large to keep).")
    filename = attachment.filename.replace('"', "")
    from urllib.parse import quote

    return Response(attachment.data, mimetype="application/octet-stream", headers={
        "Content-Disposition": f"attachment; filename*=UTF-8''{quote(filename)}",
        "X-Content-Type-Options": "nosniff", "Content-Security-Policy": "default-src 'none'; sandbox"})


@blp.route("/macros")
class Macros(MethodView):
    @require("operator")
    @blp.arguments(PageArgs, location="query")
    @blp.response(200)
    def get(self, args):
        """Shared macros and my own, by name."""
        rows = list(db.session.scalars(macros.visible_to(current_user).limit(200)))
        return envelope(MacroOut(many=True).dump(rows), None)

    @require("operator")
    @blp.arguments(MacroIn)
    @blp.response(201, MacroOut)
    def post(self, body):
        macro = macros.create(body, current_user)
        db.session.commit()
        return macro


@blp.route("/macros/<int:macro_id>")
class MacroItem(MethodView):
    @require("operator")
    @blp.response(200, MacroOut)
    def get(self, macro_id):
        return macros.get(macro_id, current_user)

    @require("operator")
    @blp.arguments(MacroPatchIn)
    @blp.response(200, MacroOut)
    def patch(self, body, macro_id):
        version = body.pop("version", None)
        macro = macros.get(macro_id, current_user)
        macros.update(macro, body, current_user, expected_version=version)
        db.session.commit()
        return macro

    @require("operator")
    @blp.response(204)
    def delete(self, macro_id):
        macros.delete(macros.get(macro_id, current_user), current_user)
        db.session.commit()


@blp.route("/tickets/<int:ticket_id>/macros/<int:macro_id>/apply", methods=["POST"])
@require("operator")
@blp.arguments(MacroApplyIn)
@blp.response(200)
def apply_macro(body, ticket_id, macro_id):
    """Render a macro for the ticket; with ``send: true`` post it and apply its changes."""
    macro = macros.get(macro_id, current_user)
    ticket = service.get(ticket_id, lock=body["send"])
    result = macros.apply(macro, ticket, current_user, send=body["send"],
                          expected_version=expected_version(body))
    db.session.commit()
    if result["message"] is not None:
        result["message"] = _message_out.dump(result["message"])
    result["ticket"] = ticket_json(ticket)
    return _with_etag(result, ticket.version)


def _policies() -> dict:
    table = sla.targets()
    return {"items": [{"rank": rank, "priority": priority, "first_response_minutes": first,
                       "resolution_minutes": resolution}
                      for rank, by_priority in table.items() for priority, (first, resolution) in by_priority.items()],
            "next_cursor": None}


@blp.route("/sla/policies")
class SlaPolicies(MethodView):
    @require("operator")
    @blp.response(200)
    def get(self):
        """SLA targets in business minutes per rank × priority."""
        return _policies()

    @require("supervisor")
    @blp.arguments(SlaPoliciesIn)
    @blp.response(200)
    def put(self, body):
        """Set targets (applies to tickets created or re-prioritised from now on)."""
        for item in body["items"]:
            row = db.session.scalar(select(SlaPolicy).where(SlaPolicy.rank == item["rank"],
                                                            SlaPolicy.priority == item["priority"]))
            if row is None:
                row = SlaPolicy(rank=item["rank"], priority=item["priority"])
                db.session.add(row)
            row.first_response_minutes = item["first_response_minutes"]
            row.resolution_minutes = item["resolution_minutes"]
        db.session.commit()
        sla.invalidate()
        return _policies()


@blp.route("/sla/calendar", methods=["GET"])
@require("operator")
@blp.response(200)
def get_calendar():
    """The business calendar SLAs count in (opening hours, zone, holidays)."""
    row = db.session.scalar(select(BusinessCalendar).where(BusinessCalendar.name == "default"))
    cal = sla.calendar_from_row(row)
    return {"timezone": cal.timezone, "hours": cal.hours, "holiday_country": cal.holiday_country,
            "closed_dates": sorted(d.isoformat() for d in cal.closed_dates), "version": row.version if row else 0}
