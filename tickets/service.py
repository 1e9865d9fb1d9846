"""Operations on tickets: create, change (transitions, assignment), messages, lists, merge.

Services flush, never commit; the request or the job commits once.  Every change lands
on the customer's timeline through ``customers.timeline.record``; pushes and jobs wait
for the commit (``core.realtime.push``, ``core.jobs.enqueue``).
"""
from __future__ import annotations

from datetime import datetime

from flask import current_app
from sqlalchemy import bindparam, func, select, text
from sqlalchemy import update as sql_update

from core.db import insert_now, is_postgres, loaded, utcnow, written_by_hand
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.realtime import push, ticket_room, user_room
from core.sanitize import render_markdown
from customers import service as customers
from customers import timeline
from customers.identity import email_or_none, phone_or_none
from customers.models import Customer
from extensions import db
from tickets import sla
from tickets.events import ticket_changed, ticket_needs_routing
from tickets.models import Message, Ticket

# CONTRACT §8: closed is final; a customer reply reopens solved/pending (tickets.mail);
# any other transition is allowed to the assignee and supervisors.
TRANSITIONS = {
    "new": {"open", "pending", "on_hold", "solved", "closed"},
    "open": {"pending", "on_hold", "solved", "closed"},
    "pending": {"open", "on_hold", "solved", "closed"},
    "on_hold": {"open", "pending", "solved", "closed"},
    "solved": {"open", "pending", "closed"},
    "closed": set(),
}


def actor_id(actor) -> int | None:
    """The user id of whoever acts (None for API tokens and jobs)."""
    return getattr(actor, "user_id", None) if actor is not None else None


def get(ticket_id: int, *, lock: bool = False) -> Ticket:
    statement = select(Ticket).where(Ticket.id == ticket_id)
    if lock:
        statement = statement.with_for_update()
    ticket = db.session.scalar(statement)
    if ticket is None:
        raise NotFound("No such ticket.")
    return ticket


def messages_of(ticket_id: int) -> list[Message]:
    return list(db.session.scalars(select(Message).where(Message.ticket_id == ticket_id).order_by(Message.id)))


def check_version(ticket: Ticket, expected: int | None, *, what: str = "change") -> None:
    """Optimistic locking: a stale version is a 409 that says what to do."""
    if expected is not None and int(expected) != ticket.version:
        raise Conflict(f"Ticket #{ticket.id} changed since you loaded it (version {expected}, now "
                       f"{ticket.version}). Reload it and {what} again.", version=ticket.version,
                       code="stale_version")


def _customer_for(customer_id: int | None, contact: dict | None) -> Customer:
    if customer_id:
        return customers.get_brief(customer_id)
    contact = contact or {}
    email, phone = (contact.get("email") or "").strip(), (contact.get("phone") or "").strip()
    errors = {}
    if email and email_or_none(email) is None:
        errors["email"] = ["not a valid email address"]
    if phone and phone_or_none(phone) is None:
        errors["phone"] = ["not a valid phone number"]
    if errors:
        raise Invalid("The customer's contact details are not valid.", fields={"customer": errors})
    customer = customers.resolve_contact(email=email or None, phone=phone or None,
                                         name=(contact.get("name") or "").strip() or None, create_missing=True)
    if customer is None:
        raise Invalid("The customer needs a name, an email or a phone.", fields={"customer": ["required"]})
    return customer


def create(data: dict, actor=None) -> tuple[Ticket, Customer, list[Message]]:
    """A ticket with its first message (the customer's request as recorded), SLA due
    times, timeline items, and the routing signal.  ``data`` is ``TicketIn``.
    Returns the ticket, its customer and its messages (the caller answers without
    querying again)."""
    customer = _customer_for(data.get("customer_id"), data.get("customer"))
    body = data.get("body") or ""
    ticket, first = _open(customer, subject=data["subject"], channel=data["channel"],
                          priority=data.get("priority") or "normal", tags=data.get("tags") or [], actor=actor,
                          request_body=body if body.strip() else None)
    return ticket, customer, [first] if first is not None else []


def open_ticket(customer: Customer, *, subject: str, channel: str, priority: str = "normal", tags=(),
                actor=None, linked_ticket_id: int | None = None, now: datetime | None = None) -> Ticket:
    """Insert a new ticket for ``customer`` (in the database, on the timeline, routing
    signalled)."""
    return _open(customer, subject=subject, channel=channel, priority=priority, tags=tags, actor=actor,
                 linked_ticket_id=linked_ticket_id, now=now)[0]


def _open(customer: Customer, *, subject: str, channel: str, priority: str = "normal", tags=(), actor=None,
          linked_ticket_id: int | None = None, now: datetime | None = None,
          request_body: str | None = None) -> tuple[Ticket, Message | None]:
    """``open_ticket``; with ``request_body``, also the ticket's first inbound message.
    Both rows are single INSERTs (``core.db.insert_now``): this is every new ticket's path."""
    now = now or utcnow()
    ticket = Ticket(subject=(subject or "").strip()[:300] or "(no subject)", status="new", priority=priority,
                    channel=channel, customer_id=customer.id, rank=customer.rank, tags=_clean_tags(tags),
                    version=1, waiting_since=now, linked_ticket_id=linked_ticket_id,
                    created_by_id=actor_id(actor), created_at=now, updated_at=now, last_message_at=now)
    sla.recompute(ticket)
    insert_now(db.session, ticket)
    first = None
    if request_body is not None:
        first = _inbound_message(ticket, body=request_body, html=None, author_id=actor_id(actor), now=now)
        insert_now(db.session, first)
    items = [dict(kind="ticket", summary=f"#{ticket.id} {ticket.subject}", channel=channel, direction="in",
                  occurred_at=now, ticket_id=ticket.id, operator_id=actor_id(actor),
                  detail={"status": "new", "priority": priority, "linked_ticket_id": linked_ticket_id})]
    if first is not None:
        items.append(_inbound_item(ticket, first))
    timeline.record_new(customer.id, items)
    # No ticket_updated: nobody can be viewing a ticket that did not exist, and it has no
    # assignee yet (routing announces the assignment).
    _needs_routing(ticket, "created")
    return ticket, first


def _clean_tags(tags) -> list[str]:
    seen: list[str] = []
    for tag in tags or []:
        value = str(tag).strip().lower()[:40]
        if value and value not in seen:
            seen.append(value)
    return seen


def _needs_routing(ticket: Ticket, reason: str) -> None:
    ticket_needs_routing.send(current_app._get_current_object(), ticket_id=ticket.id, reason=reason,
                              channel=ticket.channel, rank=ticket.rank)


def _announce(ticket: Ticket, *, assigned_to: int | None = None) -> None:
    """After commit: ``ticket_updated`` to the ticket's viewers and its assignee;
    ``ticket_assigned`` to a new assignee."""
    event = {"ticket_id": ticket.id, "version": ticket.version}
    push("ticket_updated", event, ticket_room(ticket.id))
    if ticket.assignee_id:
        push("ticket_updated", event, user_room(ticket.assignee_id))
    if assigned_to:
        push("ticket_assigned", {"ticket_id": ticket.id}, user_room(assigned_to))


def _changed(ticket: Ticket, changes: dict) -> None:
    """Tell higher layers (routing: capacity, holds) what changed, in the transaction."""
    ticket_changed.send(current_app._get_current_object(), ticket_id=ticket.id, changes=changes)


def _touch(ticket: Ticket, now: datetime) -> None:
    ticket.version += 1
    ticket.updated_at = now


def can_work(actor, ticket: Ticket) -> bool:
    """The assignee and supervisors (and admins, API tokens) may change a ticket."""
    if actor is None or actor.has_role("supervisor"):
        return True
    return ticket.assignee_id is not None and ticket.assignee_id == actor_id(actor)


def _check_assignment(actor, ticket: Ticket, new_assignee: int | None) -> None:
    """Operators take unassigned tickets (for themselves or a colleague) and hand back
    their own; moving a ticket away from someone else is a supervisor's reassign."""
    if actor is None or actor.has_role("supervisor"):
        return
    me = actor_id(actor)
    if ticket.assignee_id is None or ticket.assignee_id == me:
        return
    raise Forbidden(f"Ticket #{ticket.id} is assigned to someone else; only a supervisor reassigns it.")


def _check_assignee_exists(user_id: int) -> None:
    from accounts.models import User

    user = db.session.get(User, user_id)
    if user is None or not user.active or not user.has_role("operator"):
        raise Invalid("The assignee must be an active operator.", fields={"assignee_id": ["no such operator"]})


def change_status(ticket: Ticket, status: str, actor=None, *, now: datetime | None = None,
                  by_customer: bool = False) -> bool:
    """Move ``ticket`` to ``status`` (transition rules, SLA pause/resume, timestamps).
    Returns whether anything changed.  Permission checks are the caller's."""
    now = now or utcnow()
    old = ticket.status
    if status == old:
        return False
    if status not in TRANSITIONS.get(old, set()):
        if old == "closed":
            raise Invalid(f"Ticket #{ticket.id} is closed; closed tickets are final.",
                          fields={"status": ["closed is final"]})
        raise Invalid(f"A ticket cannot go from {old} to {status}.", fields={"status": [f"not allowed from {old}"]})
    if old == "pending":
        sla.resume(ticket, now)
    if status == "pending":
        sla.pause(ticket, now)
    if status == "solved":
        ticket.solved_at = now
        sla.mark_met(ticket, now, resolved=True)
    elif status == "closed":
        ticket.closed_at = now
        ticket.solved_at = ticket.solved_at or now
    elif old == "solved":
        ticket.solved_at = None  # reopened: the resolution clock runs again
    ticket.status = status
    timeline.record(ticket.customer_id, "status", summary=f"#{ticket.id} {old} → {status}", channel=ticket.channel,
                    occurred_at=now, ticket_id=ticket.id, operator_id=actor_id(actor),
                    ref=f"ticket:{ticket.id}:v{ticket.version}:status",
                    detail={"from": old, "to": status, "by_customer": by_customer})
    return True


def update(ticket: Ticket, changes: dict, actor=None, *, expected_version: int | None = None) -> Ticket:
    """PATCH: status, priority, assignee_id, tags, subject — optimistic, permission-checked."""
    check_version(ticket, expected_version)
    if ticket.status == "closed":
        raise Invalid(f"Ticket #{ticket.id} is closed; closed tickets are final.", fields={"status": ["closed"]})
    now = utcnow()
    applied: dict = {}
    assigned_to = None
    if "assignee_id" in changes and changes["assignee_id"] != ticket.assignee_id:
        new = changes["assignee_id"]
        _check_assignment(actor, ticket, new)
        if new is not None:
            _check_assignee_exists(new)
        applied["assignee_id"] = [ticket.assignee_id, new]
        ticket.assignee_id = new
        assigned_to = new
        if new is None:  # returned to the queue
            ticket.waiting_since = now
        timeline.record(ticket.customer_id, "assignment", summary=f"#{ticket.id} → {_user_name(new)}",
                        channel=ticket.channel, occurred_at=now, ticket_id=ticket.id, operator_id=actor_id(actor),
                        ref=f"ticket:{ticket.id}:v{ticket.version}:assign",
                        detail={"from": applied["assignee_id"][0], "to": new})
    others = {k: v for k, v in changes.items() if k in ("status", "priority", "tags", "subject")}
    if any(others.get(k) is not None and others[k] != getattr(ticket, k) for k in others):
        if not can_work(actor, ticket):
            raise Forbidden(f"Only the assignee or a supervisor may change ticket #{ticket.id}; take it first.")
    if "status" in changes and changes["status"] != ticket.status:
        old = ticket.status
        change_status(ticket, changes["status"], actor, now=now)
        applied["status"] = [old, ticket.status]
    if "priority" in changes and changes["priority"] != ticket.priority:
        applied["priority"] = [ticket.priority, changes["priority"]]
        ticket.priority = changes["priority"]
        sla.recompute(ticket)
    if "tags" in changes:
        tags = _clean_tags(changes["tags"])
        if tags != ticket.tags:
            applied["tags"] = [ticket.tags, tags]
            ticket.tags = tags
    if "subject" in changes and changes["subject"].strip() != ticket.subject:
        applied["subject"] = [ticket.subject, changes["subject"].strip()]
        ticket.subject = changes["subject"].strip()
    if not applied:
        return ticket
    if set(applied) - {"status", "assignee_id"}:
        timeline.record(ticket.customer_id, "ticket", summary=f"#{ticket.id} updated: {', '.join(sorted(applied))}",
                        channel=ticket.channel, occurred_at=now, ticket_id=ticket.id, operator_id=actor_id(actor),
                        ref=f"ticket:{ticket.id}:v{ticket.version}:update",
                        detail={k: v for k, v in applied.items() if k not in ("status", "assignee_id")})
    _touch(ticket, now)
    db.session.flush()
    _changed(ticket, applied)
    _announce(ticket, assigned_to=assigned_to)
    if "assignee_id" in applied and applied["assignee_id"][1] is None and ticket.status in ("new", "open"):
        _needs_routing(ticket, "returned")
    return ticket


def assign_from_routing(ticket_id: int, operator_id: int) -> None:
    """Routing chose ``operator_id`` (it holds the locks and checked capacity): assign
    without permission or version checks, on the timeline, announced after commit.
    No ``ticket_changed`` is sent — routing made this change itself.  Every routed ticket
    passes here: on PostgreSQL one statement does it all, elsewhere three prebuilt ones;
    no unit-of-work flush either way."""
    if db.session.dirty or db.session.new:
        db.session.flush()  # the statements below read and write the rows themselves
    now = utcnow()
    params = {"ticket_id": ticket_id, "operator_id": operator_id, "now": now}
    if is_postgres(db.session):
        found, version = db.session.execute(_ASSIGN_AND_RECORD, params).one()
        if not found:
            raise NotFound("No such ticket.")
    else:
        version = _assign_and_record(params)
    if version is None:
        return  # the operator has it already
    in_session = loaded(db.session, Ticket, ticket_id)
    if in_session is not None:  # e.g. the call's ticket, opened in this request: keep it true
        written_by_hand(in_session, assignee_id=operator_id, version=version, updated_at=now)
    event = {"ticket_id": ticket_id, "version": version}
    push("ticket_updated", event, ticket_room(ticket_id))
    push("ticket_updated", event, user_room(operator_id))
    push("ticket_assigned", {"ticket_id": ticket_id}, user_room(operator_id))


def _assign_and_record(params: dict) -> int | None:
    """``assign_from_routing``'s writes as three statements: the new version, or None if
    the operator has the ticket already."""
    ticket_id, operator_id = params["ticket_id"], params["operator_id"]
    previous = db.session.execute(_ASSIGNEE_OF, params).first()
    if previous is None:
        raise NotFound("No such ticket.")
    if previous.assignee_id == operator_id:
        return None
    row = db.session.execute(_ASSIGN, params).one()
    # The ref's unique key is the guard (the claim that led here happens once): no lookup.
    timeline.record_new(row.customer_id, [dict(
        kind="assignment", summary=f"#{ticket_id} → {row.operator_name or f'user {operator_id}'}",
        channel=row.channel, occurred_at=params["now"], ticket_id=ticket_id,
        ref=f"ticket:{ticket_id}:v{previous.version}:assign",
        detail={"from": previous.assignee_id, "to": operator_id, "by": "routing"})])
    return row.version


_tickets = Ticket.__table__
_ASSIGNEE_OF = select(_tickets.c.assignee_id, _tickets.c.version).where(_tickets.c.id == bindparam("ticket_id"))


def _assign_statement():
    from accounts.models import User

    users = User.__table__
    operator_name = (select(func.coalesce(func.nullif(users.c.name, ""), users.c.username))
                     .where(users.c.id == bindparam("operator_id")).scalar_subquery())
    return (sql_update(_tickets).where(_tickets.c.id == bindparam("ticket_id"))
            .values(assignee_id=bindparam("operator_id"), version=_tickets.c.version + 1,
                    updated_at=bindparam("now"))
            .returning(_tickets.c.customer_id, _tickets.c.channel, _tickets.c.version,
                       operator_name.label("operator_name")))


_ASSIGN = _assign_statement()

# PostgreSQL: the ticket locked and read, assigned, and its timeline item written in one
# round trip (the same rows as ``_assign_and_record``: summary, ref and detail alike).
# Answers (ticket found, new version or NULL when the operator had it already).
_ASSIGN_AND_RECORD = text(r"""
WITH before AS (
    SELECT id, assignee_id FROM tickets WHERE id = :ticket_id FOR UPDATE
), assigned AS (
    UPDATE tickets SET assignee_id = :operator_id, version = tickets.version + 1, updated_at = :now
    FROM before
    WHERE tickets.id = before.id AND before.assignee_id IS DISTINCT FROM :operator_id
    RETURNING tickets.id, tickets.customer_id, tickets.channel, tickets.version, before.assignee_id AS previous,
              (SELECT coalesce(nullif(name, ''), username) FROM users WHERE users.id = :operator_id) AS name
), recorded AS (
    INSERT INTO interactions (customer_id, kind, channel, occurred_at, summary, ticket_id, ref, detail, created_at)
    SELECT customer_id, 'assignment', channel, :now,
           left('#' || id || ' → ' || coalesce(name, 'user ' || CAST(:operator_id AS integer)), 500),
           id, 'ticket\:' || id || '\:v' || (version - 1) || '\:assign',
           json_build_object('from', previous, 'to', CAST(:operator_id AS integer), 'by', 'routing'), :now
    FROM assigned
)
SELECT EXISTS (SELECT 1 FROM before) AS found, (SELECT version FROM assigned) AS version
""").bindparams(bindparam("now", type_=Ticket.__table__.c.updated_at.type))


def _user_name(user_id: int | None) -> str:
    if user_id is None:
        return "queue"
    from accounts.models import User

    row = db.session.execute(select(User.name, User.username).where(User.id == user_id)).first()
    return (row.name or row.username) if row else f"user {user_id}"


def add_inbound(ticket: Ticket, *, body: str, html: str | None, author_id: int | None = None,
                announce: bool = True, **mail_fields) -> Message:
    """The customer's words: a request recorded by an operator or a mail.  ``html`` must
    already be sanitised (tickets.mail does it with core.sanitize)."""
    now = mail_fields.pop("now", None) or utcnow()
    message = _inbound_message(ticket, body=body, html=html, author_id=author_id, now=now, **mail_fields)
    db.session.add(message)
    db.session.flush()
    ticket.last_message_at = now
    if announce:
        _touch(ticket, now)
    timeline.record(ticket.customer_id, **_inbound_item(ticket, message))
    if announce:
        db.session.flush()
        _announce(ticket)
    return message


def _inbound_message(ticket: Ticket, *, body: str, html: str | None, author_id: int | None, now: datetime,
                     **mail_fields) -> Message:
    from core.sanitize import text_to_html

    message = Message(ticket_id=ticket.id, kind="inbound", body=body or "", html=html or text_to_html(body),
                      author_id=author_id, created_at=now, **mail_fields)
    if "attachments" not in mail_fields:
        message.attachments = []  # known empty: answering with the message needs no query
    return message


def _inbound_item(ticket: Ticket, message: Message) -> dict:
    """The customer's words as a timeline item (``message`` is in the database: its id is known)."""
    # A phone request is what the operator noted from the call (the call itself comes from CTI).
    kind = {"email": "email", "chat": "chat", "web": "web"}.get(ticket.channel, "note")
    return dict(kind=kind, summary=_summary(message.body), channel=ticket.channel, direction="in",
                occurred_at=message.created_at, ticket_id=ticket.id, operator_id=message.author_id,
                body=message.body, detail={"message_id": message.id, "automated": message.automated})


def _summary(text: str) -> str:
    line = " ".join((text or "").split())
    return line[:200]


def add_message(ticket: Ticket, *, body: str, kind: str, actor=None, expected_version: int | None = None,
                status: str | None = None) -> Message:
    """An operator's reply (mailed on email tickets) or internal note.  A stale version
    is refused: someone else changed or answered the ticket in the meantime."""
    check_version(ticket, expected_version, what="send your message")
    if ticket.status == "closed":
        raise Invalid(f"Ticket #{ticket.id} is closed; a new message needs a new ticket.",
                      fields={"status": ["closed"]})
    now = utcnow()
    status_before = ticket.status
    message = Message(ticket_id=ticket.id, kind=kind, body=body, html=render_markdown(body),
                      author_id=actor_id(actor), created_at=now)
    db.session.add(message)
    if kind == "reply":
        from tickets.mail import outbound

        outbound.prepare(ticket, message)
    db.session.flush()
    ticket.last_message_at = now
    target = status
    if kind == "reply":
        sla.mark_met(ticket, now, first_response=True)
        if target is None and ticket.status == "new":
            target = "open"
    if target and target != ticket.status:
        if not can_work(actor, ticket) and not (kind == "reply" and ticket.status == "new" and status is None):
            raise Forbidden(f"Only the assignee or a supervisor may change ticket #{ticket.id}'s status.")
        change_status(ticket, target, actor, now=now)
    timeline.record(ticket.customer_id, "reply" if kind == "reply" else "note", summary=_summary(body),
                    channel=ticket.channel, direction="out" if kind == "reply" else None, occurred_at=now,
                    ticket_id=ticket.id, operator_id=actor_id(actor), body=body,
                    detail={"message_id": message.id, "delivery": message.delivery})
    _touch(ticket, now)
    db.session.flush()
    changes = {"message": [None, kind]}
    if status_before != ticket.status:
        changes["status"] = [status_before, ticket.status]
    _changed(ticket, changes)
    _announce(ticket)
    if message.delivery == "queued":
        from core.jobs import enqueue

        enqueue("tickets.mail.jobs.send_reply", message.id, retry=0, meta={"kind": "mail_out"})
    return message


def answered_on_the_phone(ticket_id: int, operator, now: datetime) -> None:
    """A person picked up the ticket's call: the talk is the first response, and a new
    ticket (or one pending on the customer, who has now called) is open.  Without this a
    phone ticket stayed ``new`` after the call and its first-response clock ran on."""
    ticket = get(ticket_id, lock=True)
    reopen = ticket.status in ("new", "pending")
    if not reopen and ticket.first_responded_at is not None:
        return
    status_before = ticket.status
    # The status item's ref lookup must not flush the ticket half-changed: with the touch
    # below, one UPDATE of the ticket goes out, not two (nothing else in this transaction
    # records that ref, so the lookup loses nothing by not flushing).
    with db.session.no_autoflush:
        sla.mark_met(ticket, now, first_response=True)
        if reopen:
            change_status(ticket, "open", operator, now=now)
        _touch(ticket, now)
    db.session.flush()
    if reopen:
        _changed(ticket, {"status": [status_before, "open"]})
    _announce(ticket)


def reopen_by_customer(ticket: Ticket, now: datetime) -> bool:
    """A customer wrote again: solved/pending tickets open and wait for an operator."""
    if ticket.status not in ("solved", "pending"):
        return False
    change_status(ticket, "open", None, now=now, by_customer=True)
    ticket.waiting_since = now
    return True


def on_customers_merged(sender, survivor_id: int, duplicate_id: int, **kwargs) -> None:
    """The duplicate's tickets move to the survivor in the merge's transaction."""
    db.session.execute(sql_update(Ticket).where(Ticket.customer_id == duplicate_id)
                       .values(customer_id=survivor_id, version=Ticket.version + 1, updated_at=utcnow()),
                       execution_options={"synchronize_session": "fetch"})
