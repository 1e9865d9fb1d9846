"""The screen pop: who is calling and their whole story, pushed to the chosen operator's
console the moment a call is offered to them (CONTRACT §4 ``screen_pop``)."""
from __future__ import annotations

from sqlalchemy import func, select

from console.cti import OPEN_STATUSES, UNIDENTIFIED
from console.models import Call
from core.audit import record
from core.realtime import push, user_room
from extensions import db

CONTACT_KINDS = ("call", "email", "reply", "note", "chat", "web", "ticket")


def profile(customer) -> dict:
    """The profile fields an operator reads in two seconds."""
    from customers.identity import display_phone
    from customers.models import Purchase

    last = db.session.execute(select(Purchase.product, Purchase.amount, Purchase.purchased_at)
                              .where(Purchase.customer_id == customer.id)
                              .order_by(Purchase.purchased_at.desc()).limit(1)).first()
    return {
        "id": customer.id, "name": customer.name, "name_kana": customer.name_kana, "company": customer.company,
        "emails": customer.emails, "phones": customer.phones,
        "phones_display": [display_phone(p) for p in customer.phones],
        "rank": customer.rank, "rank_override": customer.rank_override,
        "rfm": {"recency_days": customer.recency_days, "frequency": customer.frequency,
                "monetary": customer.monetary, "r": customer.r_score, "f": customer.f_score, "m": customer.m_score},
        "ltv": customer.ltv, "tags": customer.tags, "dm_opt_in": customer.dm_opt_in,
        "last_contact_at": customer.last_contact_at.isoformat() if customer.last_contact_at else None,
        "last_purchase": {"product": last.product, "amount": last.amount,
                          "purchased_at": last.purchased_at.isoformat()} if last else None,
    }


def open_tickets(customer_id: int, limit: int = 10) -> list[dict]:
    from tickets.models import Ticket

    rows = db.session.scalars(select(Ticket).where(Ticket.customer_id == customer_id,
                                                   Ticket.status.in_(OPEN_STATUSES))
                              .order_by(Ticket.updated_at.desc()).limit(limit))
    return [{"id": t.id, "subject": t.subject, "status": t.status, "priority": t.priority, "channel": t.channel,
             "updated_at": t.updated_at.isoformat() if t.updated_at else None} for t in rows]


def suggestions(ticket_id: int | None) -> list[dict]:
    from console.suggestions_api import ticket_suggestions

    return ticket_suggestions(ticket_id) if ticket_id is not None else []


def payload(call: Call) -> dict:
    from customers import timeline
    from customers.models import Customer

    customer = db.session.get(Customer, call.customer_id) if call.customer_id else None
    known = customer is not None and UNIDENTIFIED not in (customer.tags or [])
    from customers.identity import display_phone

    body = {"call_id": call.call_id, "ticket_id": call.ticket_id, "caller": call.caller or "anonymous",
            "caller_display": display_phone(call.caller) if call.caller else None, "last_contact": None,
            "customer": profile(customer) if known else None,
            "placeholder_customer_id": customer.id if customer is not None and not known else None,
            "recent_interactions": [], "open_tickets": [], "suggested_articles": suggestions(call.ticket_id),
            "call_count": 0}
    if known:
        recent = timeline.recent(customer.id, 10)
        body["recent_interactions"] = [timeline.to_dict(i) for i in recent]
        # The last contact *before* this call (this call's own ticket item is not news).
        earlier = [i for i in recent if i.kind in CONTACT_KINDS and i.ticket_id != call.ticket_id]
        body["last_contact"] = timeline.to_dict(earlier[0]) if earlier else None
        body["open_tickets"] = open_tickets(customer.id)
        body["call_count"] = db.session.scalar(select(func.count()).select_from(Call)
                                               .where(Call.customer_id == customer.id)) or 0
    return body


def push_screen_pop(call: Call, operator_id: int) -> dict:
    """Push the pop to the operator after commit; the read of the profile is audited."""
    body = payload(call)
    if body["customer"] is not None:
        from accounts.models import User

        record("customer.screen_pop", customer_id=body["customer"]["id"],
               detail={"call_id": call.call_id, "operator_id": operator_id},
               actor=db.session.get(User, operator_id))
    push("screen_pop", body, user_room(operator_id))
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
