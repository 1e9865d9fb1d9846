"""The CTI webhook's operations (Zammad "generic CTI" compatible, CONTRACT §3 Telephony).

Events are idempotent per ``callId`` and tolerate disorder: a repeated ``newCall``
answers the call's current decision, an ``answer`` after ``hangup`` is ignored, an
unknown ``callId`` is ignored.  A phone call becomes (or reuses) the caller's phone ticket,
which routing offers to one operator: the ``dial`` answer *is* that offer.
"""
from __future__ import annotations

from functools import cache

from sqlalchemy import bindparam, select

from console.models import BlockedNumber, Call
from core.db import first_for_update, insert_now, is_postgres, one_row, scratch, utcnow
from core.errors import Invalid
from customers import service as customers
from customers import timeline
from customers.identity import phone_or_none
from extensions import db
from routing import engine
from routing.models import Offer, WorkItem

OPEN_STATUSES = ("new", "open", "pending", "on_hold")
CALL_SUBJECT = "着信"  # the automatic subject of a call's ticket: the caller's number follows
UNIDENTIFIED = "unidentified"


def _event_value(data: dict, *names: str) -> str | None:
    for name in names:
        value = data.get(name)
        if isinstance(value, list):
            value = value[0] if value else None
        if value not in (None, ""):
            return str(value).strip()
    return None


def user_candidates(data: dict) -> list[str]:
    """``user`` as a string, a comma-separated string, a list (``user[]``), or empty."""
    raw = data.get("user[]", data.get("user"))
    values = raw if isinstance(raw, list) else [raw]
    names: list[str] = []
    for value in values:
        if value is None:
            continue
        names += [part.strip() for part in str(value).split(",") if part.strip()]
    return names


def call_id_of(data: dict) -> str:
    call_id = _event_value(data, "callId", "call_id", "callid")
    if not call_id:
        raise Invalid("callId is required.", fields={"callId": ["required"]})
    if len(call_id) > 200:
        raise Invalid("callId is too long.", fields={"callId": ["at most 200 characters"]})
    return call_id


def direction_of(data: dict) -> str:
    direction = (_event_value(data, "direction") or "in").lower()
    if direction not in ("in", "out"):
        raise Invalid("direction must be in or out.", fields={"direction": ["in or out"]})
    return direction


def find_call(call_id: str, *, lock: bool = False) -> Call | None:
    """The call, locked for this transaction's read-decide-write when ``lock``."""
    if not lock:
        return db.session.scalar(select(Call).where(Call.call_id == call_id))
    return first_for_update(db.session, Call, Call.call_id == call_id)


@cache
def _operator_statement():
    from accounts.models import User

    return select(User.id.label("user_id"), User.username, User.extension).where(User.id == bindparam("user_id"))


def operator_row(user_id: int):
    """The operator's ``user_id, username, extension``, read once per transaction: the
    pop's audit entry (its actor) and the ``dial`` answer both need them."""
    held = scratch(db.session(), "call_operators")
    if user_id not in held:
        held[user_id] = db.session.execute(_operator_statement(), {"user_id": user_id}).one()
    return held[user_id]


def _user_by_name_or_extension(names: list[str]):
    from accounts.models import User

    for name in names:
        user = db.session.scalar(select(User).where((User.username == name) | (User.extension == name)))
        if user is not None:
            return user
    return None


# --- customer and ticket for a call -------------------------------------------------------

def known_customer(caller: str | None):
    """The caller's customer, with phones and emails in the same statement (the screen
    pop shows them); None for an unknown or anonymous caller."""
    return customers.lookup(phone=caller, with_identities=True) if caller else None


def placeholder_customer(caller: str | None):
    """An unknown or anonymous caller gets a placeholder customer (tagged
    ``unidentified``) so the call has a ticket and a timeline.  The operator names it from
    the pop, or links it to an existing customer (a merge)."""
    return customers.create({"name": caller or "非通知 (anonymous)", "phones": [caller] if caller else [],
                             "tags": [UNIDENTIFIED]})


@cache
def _open_phone_ticket_statement():
    from tickets.models import Ticket

    return (select(Ticket).where(Ticket.customer_id == bindparam("customer_id"), Ticket.channel == "phone",
                                 Ticket.status.in_(OPEN_STATUSES)).order_by(Ticket.id.desc()).limit(1))


def phone_ticket_for(customer, caller: str | None):
    """Reuse the customer's open phone ticket (known callers), else open one."""
    from tickets import service as tickets

    if UNIDENTIFIED not in (customer.tags or []):
        existing = db.session.scalar(_open_phone_ticket_statement(), {"customer_id": customer.id})
        if existing is not None:
            engine.queue_ticket(existing)
            return existing
    from customers.identity import display_phone

    subject = f"{CALL_SUBJECT} {display_phone(caller)}" if caller else f"{CALL_SUBJECT} (非通知)"
    ticket = tickets.open_ticket(customer, subject=subject, channel="phone")
    opened_for_a_call()[ticket.id] = True
    return ticket


def opened_for_a_call() -> dict:
    """Tickets opened by a call in this transaction, by id: they have no messages yet."""
    return scratch(db.session(), "call_tickets")


# --- decisions -------------------------------------------------------------------------------

def _answer(blocked: bool, call_state: str, item_state: str | None, holder) -> dict:
    """What the PBX should do with the call now; ``holder``: the username and extension of
    the operator holding the call's item, or None."""
    if blocked:
        return {"action": "reject", "reason": "busy"}
    if call_state == "hangup":
        return {}
    if item_state in ("offered", "assigned") and holder is not None:
        return {"action": "dial", "user": holder.username, "extension": holder.extension}
    return {"action": "queue"}


def decision_for(call: Call, work: WorkItem | None = None) -> dict:
    """What the PBX should do with the call now, recorded on the call (``work``: the
    call's item, if in hand)."""
    if work is None and call.ticket_id and not call.blocked and call.state != "hangup":
        work = db.session.scalar(select(WorkItem).where(WorkItem.ticket_id == call.ticket_id))
    holding = work is not None and work.state in ("offered", "assigned") and work.operator_id
    answer = _answer(call.blocked, call.state, work.state if work is not None else None,
                     operator_row(work.operator_id) if holding else None)
    if answer.get("action") in ("dial", "queue"):
        call.decision = answer["action"]
    return answer


@cache
def _first_look_statement():
    """One row, whether or not the call was seen: is the caller's number blocked, and the
    call's state, decision and holder if it was (a PBX asking again about it)."""
    from accounts.models import User

    calls, items, users = Call.__table__, WorkItem.__table__, User.__table__
    blocked = (select(BlockedNumber.id).where(BlockedNumber.number == bindparam("number"))
               .limit(1).scalar_subquery())
    return (select(blocked.label("blocked_id"), calls.c.blocked, calls.c.state, calls.c.decision,
                   items.c.state.label("item_state"), users.c.username, users.c.extension)
            .select_from(one_row().outerjoin(calls, calls.c.call_id == bindparam("call_id"))
                         .outerjoin(items, items.c.ticket_id == calls.c.ticket_id)
                         .outerjoin(users, users.c.id == items.c.operator_id)))


def first_look(call_id: str, caller: str | None):
    """The first read of every ``newCall``, with no lock: ``blocked_id`` (the caller's
    number is blocked) and, for a call already seen, its ``state`` (None if not seen)."""
    return db.session.execute(_first_look_statement(), {"call_id": call_id, "number": caller}).one()


def repeated_answer(call_id: str, seen) -> dict:
    """A newCall for a call already seen (a PBX asking again about a queued call): its
    answer from the first look, with no lock and no write while the answer stays what the
    call recorded.  When it changed (an operator took the queued call), it is recorded
    under the call's lock."""
    answer = _answer(seen.blocked, seen.state, seen.item_state, seen if seen.username is not None else None)
    if answer.get("action") in ("dial", "queue") and answer["action"] != seen.decision:
        return decision_for(find_call(call_id, lock=True))
    return answer


def new_call(data: dict) -> dict:
    """``event=newCall``: identify the caller, open or reuse their phone ticket, route it."""
    call_id = call_id_of(data)
    direction = direction_of(data)
    raw_from = _event_value(data, "from") or ""
    raw_to = _event_value(data, "to") or ""
    other_party = raw_from if direction == "in" else raw_to
    caller = phone_or_none(other_party) if other_party.lower() != "anonymous" else None
    look = first_look(call_id, caller)
    if look.state is not None:
        return repeated_answer(call_id, look)
    # On SQLite the call's lock below is the database's write lock, held until the
    # commit, and every other webhook waits for it: read what needs no lock first.
    blocked = direction == "in" and look.blocked_id is not None
    known = known_customer(caller) if direction == "in" and not blocked else None
    if not is_postgres(db.session) and (repeated := find_call(call_id, lock=True)) is not None:
        return decision_for(repeated)  # the same newCall, committed meanwhile by another request
    call = Call(call_id=call_id, direction=direction, from_number=raw_from[:80], to_number=raw_to[:80],
                caller=caller, queue=(_event_value(data, "queue") or None), initialized_at=utcnow())
    if direction == "out":
        db.session.add(call)
        return _outbound(call, data)
    if blocked:
        call.blocked, call.state, call.end_at, call.cause = True, "hangup", utcnow(), "blocked"
        db.session.add(call)
        db.session.flush()
        return {"action": "reject", "reason": "busy"}
    customer = known or placeholder_customer(caller)
    ticket = phone_ticket_for(customer, caller)
    call.customer_id, call.ticket_id = customer.id, ticket.id
    ringing_calls()[ticket.id] = call
    work = engine.queued_in_this_transaction(ticket.id) or db.session.scalar(
        select(WorkItem).where(WorkItem.ticket_id == ticket.id))
    if work is not None and work.state == "waiting":
        work = engine.route_item(work.id, fresh=True)
    decision = decision_for(call, work)
    # The call row is inserted once, complete, at the end, by one statement (no flush):
    # a duplicate callId fails on its unique key here and the webhook replays it (see
    # calls_api); pushes and jobs wait for the commit, so the loser announces nothing.
    insert_now(db.session, call)
    return decision


def ringing_calls() -> dict:
    """Calls being routed in this transaction, by ticket id (the pop needs no query)."""
    return scratch(db.session(), "ringing_calls")


def _outbound(call: Call, data: dict) -> dict:
    """An outbound call (click-to-call or the PBX): recorded, not routed."""
    operator = _user_by_name_or_extension(user_candidates(data) + [call.from_number])
    call.operator_id = operator.id if operator else None
    customer = customers.lookup(phone=call.caller) if call.caller else None
    call.customer_id = customer.id if customer else None
    db.session.flush()
    return {}


def answer(data: dict) -> dict:
    """``event=answer``: the call is with that operator (their console pops if not yet)."""
    call = find_call(call_id_of(data), lock=True)
    if call is None or call.state == "hangup" or call.blocked:
        return {}
    names = user_candidates(data)
    if any(name.lower() == "voicemail" for name in names):
        call.voicemail = True
        return {}
    operator = _user_by_name_or_extension(names)
    if call.state == "answer" and (operator is None or operator.id == call.operator_id):
        return {}
    call.state, call.start_at = "answer", call.start_at or utcnow()
    if operator is None:
        return {}
    call.operator_id = operator.id
    if call.direction == "in" and call.ticket_id:
        _bind_to_operator(call, operator)
        from tickets.service import answered_on_the_phone

        answered_on_the_phone(call.ticket_id, operator, call.start_at)
    return {}


def _bind_to_operator(call: Call, operator) -> None:
    """Accept the operator's pending offer for this call, or hand the item to them."""
    from console import pop

    offer = db.session.scalar(select(Offer).where(Offer.ticket_id == call.ticket_id, Offer.state == "pending")
                              .order_by(Offer.id.desc()))
    if offer is not None and offer.operator_id == operator.id:
        engine.decide_offer(offer, "accept")
        return
    work = db.session.scalar(select(WorkItem).where(WorkItem.ticket_id == call.ticket_id))
    if offer is None and work is not None and work.state == "assigned" and work.operator_id == operator.id:
        return  # the console accepted the offer already: it has its pop
    engine.hold_by(call.ticket_id, operator.id, by=operator.id)
    from tickets.service import assign_from_routing

    assign_from_routing(call.ticket_id, operator.id)
    pop.push_screen_pop(call, operator.id)


def hangup(data: dict) -> dict:
    """``event=hangup``: the call lands on the timeline; the operator goes to wrap-up."""
    call = find_call(call_id_of(data), lock=True)
    if call is None or call.state == "hangup":
        return {}
    now = utcnow()
    call.state, call.end_at = "hangup", now
    call.cause = (_event_value(data, "cause") or "normalClearing")[:40]
    answered_by_person = call.start_at is not None and not call.voicemail and call.operator_id is not None
    call.missed = call.direction == "in" and not answered_by_person
    call.done = not call.missed
    if call.customer_id:
        timeline.record(call.customer_id, "call", channel="phone", direction=call.direction, occurred_at=call.initialized_at,
                        summary=_summary(call), ticket_id=call.ticket_id, operator_id=call.operator_id,
                        # The call's state changed to hangup under its lock just now, so
                        # this ref is new (its unique key still guards it): no lookup.
                        ref=f"call:{call.call_id}", fresh_ref=True, detail=call_detail(call))
    if call.ticket_id:
        engine.finish_item(call.ticket_id, reason="hangup")
    if answered_by_person and call.direction == "in":
        engine.start_wrap_up(call.operator_id)
    return {}


def waiting_s(call: Call) -> float | None:
    end = call.start_at or call.end_at
    return round((end - call.initialized_at).total_seconds(), 3) if end else None


def talking_s(call: Call) -> float | None:
    if call.start_at and call.end_at and not call.voicemail:
        return round((call.end_at - call.start_at).total_seconds(), 3)
    return None


def call_detail(call: Call) -> dict:
    return {"call_id": call.call_id, "cause": call.cause, "waiting_s": waiting_s(call), "talking_s": talking_s(call),
            "missed": call.missed, "voicemail": call.voicemail, "from": call.from_number, "to": call.to_number}


def _summary(call: Call) -> str:
    from customers.identity import display_phone

    number = display_phone(call.caller) if call.caller else "非通知"
    if call.direction == "out":
        return f"発信 {number} 通話 {int(talking_s(call) or 0)}秒 ({call.cause})"
    if call.missed:
        return f"不在着信 {number} ({'留守電' if call.voicemail else call.cause})"
    return f"着信 {number} 通話 {int(talking_s(call) or 0)}秒"


def handle(data: dict) -> dict:
    event = _event_value(data, "event")
    handlers = {"newCall": new_call, "answer": answer, "hangup": hangup}
    if event not in handlers:
        raise Invalid("event must be newCall, answer or hangup.", fields={"event": ["newCall, answer or hangup"]})
    return handlers[event](data)


def on_customers_merged(app, survivor_id: int, duplicate_id: int, **_) -> None:
    """Calls of a merged duplicate (e.g. an unidentified caller linked from the pop) move
    to the surviving customer, in the merge's transaction."""
    from sqlalchemy import update

    db.session.execute(update(Call).where(Call.customer_id == duplicate_id).values(customer_id=survivor_id)
                       .execution_options(synchronize_session=False))
