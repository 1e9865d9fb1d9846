"""Input and output schemas of the tickets API (CONTRACT §3 "Tickets", §8)."""
from __future__ import annotations

from marshmallow import Schema, ValidationError, fields, validate, validates_schema

from core.pagination import PageArgs
from tickets.models import CHANNELS, PRIORITIES, STATUSES
from tickets.quoting import quote_start
from tickets.sla import as_dict as sla_dict

_TAG = fields.String(validate=validate.Length(min=1, max=40))


def _id_in_range(value: str) -> None:
    """A numeric id an integer column can hold (a larger one would overflow the query)."""
    if value.isdigit() and int(value) > 2**31 - 1:
        raise ValidationError("No such id.")


class CustomerRefIn(Schema):
    name = fields.String(validate=validate.Length(max=200), allow_none=True)
    email = fields.String(validate=validate.Length(max=320), allow_none=True)
    phone = fields.String(validate=validate.Length(max=40), allow_none=True)


class TicketIn(Schema):
    subject = fields.String(required=True, validate=validate.Length(min=1, max=300))
    body = fields.String(load_default="", validate=validate.Length(max=200_000))
    channel = fields.String(required=True, validate=validate.OneOf(CHANNELS))
    priority = fields.String(load_default="normal", validate=validate.OneOf(PRIORITIES))
    customer_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))
    customer = fields.Nested(CustomerRefIn, allow_none=True)
    tags = fields.List(_TAG, load_default=list, validate=validate.Length(max=30))

    @validates_schema
    def _one_customer(self, data, **kwargs):
        if not data.get("customer_id") and data.get("customer") is None:
            raise ValidationError("Give customer_id or customer {name, email, phone}.", "customer_id")
        if data.get("customer") and not any((data["customer"].get(k) or "").strip()
                                            for k in ("name", "email", "phone")):
            raise ValidationError("The customer needs a name, an email or a phone.", "customer")


class TicketPatchIn(Schema):
    status = fields.String(validate=validate.OneOf(STATUSES))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    assignee_id = fields.Integer(allow_none=True, validate=validate.Range(min=1, max=2**31 - 1))
    tags = fields.List(_TAG, validate=validate.Length(max=30))
    subject = fields.String(validate=validate.Length(min=1, max=300))
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class TicketListArgs(PageArgs):
    status = fields.String(validate=validate.Length(max=80))  # one status or a comma-separated list
    assignee = fields.String(validate=[validate.Regexp(r"^(me|none|\d{1,10})$"), _id_in_range])
    # Assigned to anyone in my teams, or in one team (accounts.teams).
    team = fields.String(validate=[validate.Regexp(r"^(mine|\d{1,10})$"), _id_in_range])
    rank = fields.String(validate=validate.OneOf(("platinum", "gold", "silver", "bronze", "new")))
    channel = fields.String(validate=validate.OneOf(CHANNELS))
    priority = fields.String(validate=validate.OneOf(PRIORITIES))
    customer_id = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))
    q = fields.String(validate=validate.Length(max=200))

    @validates_schema
    def _statuses(self, data, **kwargs):
        for value in (data.get("status") or "").split(","):
            if value and value not in STATUSES:
                raise ValidationError(f"one or more of {', '.join(STATUSES)}", "status")


class MessageIn(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=100_000))
    kind = fields.String(load_default="reply", validate=validate.OneOf(("reply", "note")))
    # Submit as: the status the ticket takes with this message (e.g. reply and set pending).
    status = fields.String(validate=validate.OneOf(STATUSES))
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class PreviewIn(Schema):
    body = fields.String(required=True, validate=validate.Length(max=100_000))


class MacroIn(Schema):
    name = fields.String(required=True, validate=validate.Length(min=1, max=120))
    body = fields.String(load_default="", validate=validate.Length(max=20_000))
    kind = fields.String(load_default="reply", validate=validate.OneOf(("reply", "note")))
    set_status = fields.String(allow_none=True, validate=validate.OneOf(STATUSES))
    set_priority = fields.String(allow_none=True, validate=validate.OneOf(PRIORITIES))
    add_tags = fields.List(_TAG, load_default=list, validate=validate.Length(max=30))
    shared = fields.Boolean(load_default=False)


class MacroPatchIn(Schema):
    name = fields.String(validate=validate.Length(min=1, max=120))
    body = fields.String(validate=validate.Length(max=20_000))
    kind = fields.String(validate=validate.OneOf(("reply", "note")))
    set_status = fields.String(allow_none=True, validate=validate.OneOf(STATUSES))
    set_priority = fields.String(allow_none=True, validate=validate.OneOf(PRIORITIES))
    add_tags = fields.List(_TAG, validate=validate.Length(max=30))
    shared = fields.Boolean()
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class MacroApplyIn(Schema):
    # Apply = render the placeholders for this ticket; with ``send`` the macro's message is
    # posted and its status/tags applied in one step.
    send = fields.Boolean(load_default=False)
    version = fields.Integer(validate=validate.Range(min=1, max=2**31 - 1))


class MacroOut(Schema):
    id = fields.Integer()
    name = fields.String()
    body = fields.String()
    kind = fields.String()
    set_status = fields.String(allow_none=True)
    set_priority = fields.String(allow_none=True)
    add_tags = fields.List(fields.String())
    owner_id = fields.Integer(allow_none=True)
    shared = fields.Function(lambda macro: macro.owner_id is None)
    version = fields.Integer()
    updated_at = fields.DateTime()


class SlaPolicyIn(Schema):
    rank = fields.String(required=True, validate=validate.OneOf(("platinum", "gold", "silver", "bronze", "new")))
    priority = fields.String(required=True, validate=validate.OneOf(PRIORITIES))
    first_response_minutes = fields.Integer(required=True, validate=validate.Range(1, 60 * 24 * 90))
    resolution_minutes = fields.Integer(required=True, validate=validate.Range(1, 60 * 24 * 365))


class SlaPoliciesIn(Schema):
    items = fields.List(fields.Nested(SlaPolicyIn), required=True, validate=validate.Length(max=40))


class AttachmentOut(Schema):
    id = fields.Integer()
    filename = fields.String()
    content_type = fields.String()
    size = fields.Integer()
    omitted = fields.Boolean()
    url = fields.Function(lambda a: f"/api/v1/tickets/attachments/{a.id}")


def _delivery(message) -> str | None:
    # "sending" is internal (claimed by a worker); the contract knows queued|sent|failed|not_sent.
    return "queued" if message.delivery == "sending" else message.delivery


def _delivery_detail(message) -> str | None:
    if message.delivery == "failed":
        return "retrying" if message.next_attempt_at is not None else "gave_up"
    return None


class MessageOut(Schema):
    id = fields.Integer()
    ticket_id = fields.Integer()
    kind = fields.String()
    body = fields.String()
    html = fields.String()
    author_id = fields.Integer(allow_none=True)
    created_at = fields.DateTime()
    message_id = fields.String(allow_none=True)
    in_reply_to = fields.String(allow_none=True)
    delivery = fields.Function(_delivery)
    delivery_detail = fields.Function(_delivery_detail)
    attempts = fields.Integer()
    last_error = fields.String(allow_none=True)
    sent_at = fields.DateTime(allow_none=True)
    from_address = fields.String(allow_none=True)
    from_name = fields.String(allow_none=True)
    to_address = fields.String(allow_none=True)
    subject = fields.String(allow_none=True)
    automated = fields.Boolean()
    # Where quoted earlier text starts in ``body`` (the UI folds it away), or null.
    quoted_at = fields.Function(lambda m: quote_start(m.body) if m.kind == "inbound" else None)
    attachments = fields.List(fields.Nested(AttachmentOut))


class TicketOut(Schema):
    id = fields.Integer()
    subject = fields.String()
    status = fields.String()
    priority = fields.String()
    channel = fields.String()
    customer_id = fields.Integer()
    assignee_id = fields.Integer(allow_none=True)
    rank = fields.String()
    sla = fields.Function(sla_dict)
    tags = fields.List(fields.String())
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    waiting_since = fields.DateTime(allow_none=True)
    linked_ticket_id = fields.Integer(allow_none=True)
    last_message_at = fields.DateTime(allow_none=True)
    solved_at = fields.DateTime(allow_none=True)
    closed_at = fields.DateTime(allow_none=True)


def _iso(value):
    return value.isoformat() if value is not None else None


def ticket_fields(ticket) -> dict:
    """What ``TicketOut`` dumps, written out by hand: lists dump 50 tickets per request and
    this is several times faster than the schema (a test keeps the two identical)."""
    return {"id": ticket.id, "subject": ticket.subject, "status": ticket.status, "priority": ticket.priority,
            "channel": ticket.channel, "customer_id": ticket.customer_id, "assignee_id": ticket.assignee_id,
            "rank": ticket.rank, "sla": sla_dict(ticket), "tags": list(ticket.tags or []), "version": ticket.version,
            "created_at": _iso(ticket.created_at), "updated_at": _iso(ticket.updated_at),
            "waiting_since": _iso(ticket.waiting_since), "linked_ticket_id": ticket.linked_ticket_id,
            "last_message_at": _iso(ticket.last_message_at), "solved_at": _iso(ticket.solved_at),
            "closed_at": _iso(ticket.closed_at)}
