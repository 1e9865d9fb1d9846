"""The screen pop: who is calling and their whole story, pushed to the chosen operator's
console the moment a call is offered to them (CONTRACT §4 ``screen_pop``).

The pop is on the CTI webhook's hot path (issue 7: a pop within milliseconds of
``newCall``), so its reads are few and lean: columns, not ORM objects, and the customer
and operator the request has loaded already.  Its statements are built once (building a
statement costs more than running it).  It is published before the transaction's other
after-commit work.
"""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, func, select, true

from console.cti import OPEN_STATUSES, UNIDENTIFIED, opened_for_a_call, operator_row
from console.models import Call
from core.audit import record
from core.db import one_row
from core.realtime import push_first, user_room
from extensions import db

CONTACT_KINDS = ("call", "email", "reply", "note", "chat", "web", "ticket")
RECENT_ITEMS = 10
OPEN_TICKETS = 10


@cache
def _purchase_and_calls_statement():
    from customers.models import Purchase

    customer_id = bindparam("customer_id")
    last = (select(Purchase.product, Purchase.amount, Purchase.purchased_at)
            .where(Purchase.customer_id == customer_id)
            .order_by(Purchase.purchased_at.desc()).limit(1).subquery())
    calls = select(func.count()).select_from(Call).where(Call.customer_id == customer_id).scalar_subquery()
    # One row even without purchases: the count, outer-joined to at most one purchase.
    return (select(calls.label("call_count"), last.c.product, last.c.amount, last.c.purchased_at)
            .select_from(one_row().outerjoin(last, true())))


def _purchase_and_calls(customer_id: int):
    """The last purchase (columns may be None) and the number of calls, in one statement."""
    return db.session.execute(_purchase_and_calls_statement(), {"customer_id": customer_id}).one()


def profile(customer, last=None) -> dict:
    """The profile fields an operator reads in two seconds (``last``: the row of
    ``_purchase_and_calls``, read here when not given)."""
    from customers.identity import display_phone

    last = last if last is not None else _purchase_and_calls(customer.id)
    phones = customer.phones
    return {
        "id": customer.id, "name": customer.name, "name_kana": customer.name_kana, "company": customer.company,
        "emails": customer.emails, "phones": phones,
        "phones_display": [display_phone(p) for p in phones],
        "rank": customer.rank, "rank_override": customer.rank_override,
        "rfm": {"recency_days": customer.recency_days, "frequency": customer.frequency,
                "monetary": customer.monetary, "r": customer.r_score, "f": customer.f_score, "m": customer.m_score},
        "ltv": customer.ltv, "tags": customer.tags, "dm_opt_in": customer.dm_opt_in,
        "last_contact_at": customer.last_contact_at.isoformat() if customer.last_contact_at else None,
        "last_purchase": {"product": last.product, "amount": last.amount,
                          "purchased_at": last.purchased_at.isoformat()} if last.purchased_at else None,
    }


@cache
def _recent_statement():
    from customers.models import Interaction

    return (select(Interaction.id, Interaction.kind, Interaction.channel, Interaction.direction,
                   Interaction.occurred_at, Interaction.summary, Interaction.ticket_id, Interaction.operator_id,
                   Interaction.detail)
            .where(Interaction.customer_id == bindparam("customer_id"))
            .order_by(Interaction.occurred_at.desc(), Interaction.id.desc()).limit(RECENT_ITEMS))


def recent_interactions(customer_id: int) -> list[dict]:
    """The newest timeline items, as ``customers.timeline.to_dict`` shapes them (the
    timeline index's range scan; only the columns shown)."""
    from customers.timeline import to_dict

    return [to_dict(row) for row in db.session.execute(_recent_statement(), {"customer_id": customer_id})]


@cache
def _open_tickets_statement():
    from tickets.models import Ticket

    return (select(Ticket.id, Ticket.subject, Ticket.status, Ticket.priority, Ticket.channel, Ticket.updated_at)
            .where(Ticket.customer_id == bindparam("customer_id"), Ticket.status.in_(OPEN_STATUSES))
            .order_by(Ticket.updated_at.desc()).limit(OPEN_TICKETS))


def open_tickets(customer_id: int) -> list[dict]:
    rows = db.session.execute(_open_tickets_statement(), {"customer_id": customer_id})
    return [{"id": t.id, "subject": t.subject, "status": t.status, "priority": t.priority, "channel": t.channel,
             "updated_at": t.updated_at.isoformat() if t.updated_at else None} for t in rows]


def suggestions(ticket_id: int | None) -> list[dict]:
    from console.suggestions_api import ticket_suggestions

    if ticket_id is None or ticket_id in opened_for_a_call():
        return []  # a ticket this call opened: an automatic subject, no words of the customer yet
    return ticket_suggestions(ticket_id)


def payload(call: Call) -> dict:
    from customers.identity import display_phone
    from customers.models import Customer

    # The caller's customer is in the session already when the webhook looked it up.
    customer = db.session.get(Customer, call.customer_id) if call.customer_id else None
    known = customer is not None and UNIDENTIFIED not in (customer.tags or [])
    body = {"call_id": call.call_id, "ticket_id": call.ticket_id, "caller": call.caller or "anonymous",
            "caller_display": display_phone(call.caller) if call.caller else None, "last_contact": None,
            "customer": None, "placeholder_customer_id": customer.id if customer is not None and not known else None,
            "recent_interactions": [], "open_tickets": [], "suggested_articles": suggestions(call.ticket_id),
            "call_count": 0}
    if known:
        last = _purchase_and_calls(customer.id)
        body["customer"] = profile(customer, last)
        body["call_count"] = last.call_count or 0
        recent = recent_interactions(customer.id)
        body["recent_interactions"] = recent
        # The last contact *before* this call (this call's own ticket item is not news).
        earlier = [i for i in recent if i["kind"] in CONTACT_KINDS and i["ticket_id"] != call.ticket_id]
        body["last_contact"] = earlier[0] if earlier else None
        body["open_tickets"] = open_tickets(customer.id)
    return body


def push_screen_pop(call: Call, operator_id: int) -> dict:
    """Push the pop to the operator after commit; the read of the profile is audited."""
    body = payload(call)
    if body["customer"] is not None:
        record("customer.screen_pop", customer_id=body["customer"]["id"],
               detail={"call_id": call.call_id, "operator_id": operator_id}, actor=operator_row(operator_id))
    push_first("screen_pop", body, user_room(operator_id))
    return body


def on_offer_created(app, offer_id: int, ticket_id: int, operator_id: int, channel: str, **_):
    """A ringing call's ticket was offered: pop it on that operator's console."""
    if channel != "phone":
        return
    from console.cti import ringing_calls

    call = ringing_calls().get(ticket_id) or db.session.scalar(
        select(Call).where(Call.ticket_id == ticket_id, Call.state == "newCall").order_by(Call.id.desc()))
    if call is not None:
        push_screen_pop(call, operator_id)
