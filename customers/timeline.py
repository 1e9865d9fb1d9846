"""The customer timeline: the one way any package writes an interaction, and keyset
pages over it (newest first)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import bindparam, insert, or_, select, update
from sqlalchemy.orm import load_only

from core.db import loaded, utcnow, written_by_hand
from core.pagination import by_time_desc
from customers.models import Customer, Interaction
from extensions import db

KINDS = ("call", "email", "note", "ticket", "purchase", "merge", "reply", "status", "assignment", "chat", "web")


CONTACT_KINDS = ("call", "email", "chat", "web", "reply")  # they move the customer's last contact


def record(customer_id: int, kind: str, *, summary: str = "", channel: str | None = None,
           direction: str | None = None, occurred_at: datetime | None = None, ticket_id: int | None = None,
           operator_id: int | None = None, body: str | None = None, ref: str | None = None,
           detail: dict | None = None, fresh_ref: bool = False) -> Interaction:
    """Append an interaction to ``customer_id``'s timeline (in the current transaction).

    ``ref`` makes the write idempotent: a second call with the same ``ref`` returns the
    existing item instead of adding one (jobs are retried; PBX events repeat).
    ``fresh_ref``: the caller knows the ref is new (its unique key still guards it).
    """
    if ref is not None and not fresh_ref:
        existing = db.session.scalar(select(Interaction).where(Interaction.ref == ref))
        if existing is not None:
            return existing
    item = Interaction(**_row(customer_id, kind, summary=summary, channel=channel, direction=direction,
                              occurred_at=occurred_at, ticket_id=ticket_id, operator_id=operator_id, body=body,
                              ref=ref, detail=detail))
    db.session.add(item)
    if kind in CONTACT_KINDS:
        _moved_last_contact(customer_id, item.occurred_at)
    # No flush: the item goes out with the transaction's next flush (batched with its
    # neighbours); a ``ref`` lookup above autoflushes, so idempotency still holds.
    return item


def record_new(customer_id: int, items: list[dict]) -> None:
    """Append several items (``record``'s keyword arguments each, no ``ref``) to one
    customer's timeline with a single INSERT and no objects back: the hot paths' way
    (a new ticket and its first message)."""
    rows = [_row(customer_id, **item) for item in items]
    db.session.execute(_INSERT_ROWS, rows)
    contacts = [row["occurred_at"] for row in rows if row["kind"] in CONTACT_KINDS]
    if contacts:
        _moved_last_contact(customer_id, max(contacts))


def _row(customer_id: int, kind: str, *, summary: str = "", channel: str | None = None,
         direction: str | None = None, occurred_at: datetime | None = None, ticket_id: int | None = None,
         operator_id: int | None = None, body: str | None = None, ref: str | None = None,
         detail: dict | None = None) -> dict:
    now = utcnow()
    return {"customer_id": customer_id, "kind": kind, "channel": channel, "direction": direction,
            "occurred_at": occurred_at or now, "summary": (summary or "")[:500], "ticket_id": ticket_id,
            "operator_id": operator_id, "body": body, "ref": ref, "detail": detail or {}, "created_at": now}


# Built once: constructing a statement costs more Python than executing a cached one.
_INSERT_ROWS = insert(Interaction.__table__)
_customers = Customer.__table__
_MOVE_LAST_CONTACT = (update(_customers)
                      .where(_customers.c.id == bindparam("customer_id"),
                             or_(_customers.c.last_contact_at.is_(None),
                                 _customers.c.last_contact_at < bindparam("when")))
                      .values(last_contact_at=bindparam("when")))


def _moved_last_contact(customer_id: int, when: datetime) -> None:
    """One conditional UPDATE (never moves it back); the loaded customer, if any, follows."""
    db.session.execute(_MOVE_LAST_CONTACT, {"customer_id": customer_id, "when": when})
    customer = loaded(db.session, Customer, customer_id)
    if customer is not None and (customer.last_contact_at is None or customer.last_contact_at < when):
        written_by_hand(customer, last_contact_at=when)


def to_dict(item: Interaction) -> dict:
    return {"id": item.id, "kind": item.kind, "channel": item.channel, "direction": item.direction,
            "occurred_at": item.occurred_at.isoformat(), "summary": item.summary, "ticket_id": item.ticket_id,
            "operator_id": item.operator_id, "detail": item.detail or {}}


def page(customer_id: int, limit: int = 50, before: str | None = None) -> tuple[list[Interaction], str | None]:
    """Newest-first page of a timeline; ``before`` is the previous page's ``next_cursor``."""
    return by_time_desc(select(Interaction).where(Interaction.customer_id == customer_id),
                        Interaction.occurred_at, Interaction.id, limit, before)


def recent(customer_id: int, limit: int = 10) -> list[Interaction]:
    return page(customer_id, limit)[0]


# What counts as "a contact" of an operator's on their home: conversations and notes, not
# the bookkeeping items (status, assignment, ticket, merge) their actions also leave.
OPERATOR_CONTACT_KINDS = ("call", "email", "reply", "note", "chat", "web")


def by_operator(operator_id: int, limit: int = 50, before: str | None = None) -> tuple[list[dict], str | None]:
    """An operator's own latest contacts across all customers, newest first, each with its
    customer's ``{id, name, rank}``: one range scan of ``ix_interactions_operator`` plus one
    query for the names."""
    # Only the listed columns: a reply's body can be long and is not shown here.
    shown = load_only(Interaction.customer_id, Interaction.kind, Interaction.channel, Interaction.direction,
                      Interaction.occurred_at, Interaction.summary, Interaction.ticket_id)
    statement = (select(Interaction).options(shown)
                 .where(Interaction.operator_id == operator_id, Interaction.kind.in_(OPERATOR_CONTACT_KINDS)))
    rows, cursor = by_time_desc(statement, Interaction.occurred_at, Interaction.id, limit, before)
    customers = {}
    if rows:
        found = db.session.execute(select(Customer.id, Customer.name, Customer.rank_override, Customer.rank_computed)
                                   .where(Customer.id.in_({r.customer_id for r in rows})))
        customers = {c.id: {"id": c.id, "name": c.name, "rank": c.rank_override or c.rank_computed or "new"}
                     for c in found}
    items = [{"id": r.id, "kind": r.kind, "channel": r.channel, "direction": r.direction,
              "occurred_at": r.occurred_at.isoformat(), "summary": r.summary, "ticket_id": r.ticket_id,
              "customer_id": r.customer_id, "customer": customers.get(r.customer_id)} for r in rows]
    return items, cursor
