"""The customer timeline: the one way any package writes an interaction, and keyset
pages over it (newest first)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from core.db import utcnow
from core.pagination import by_time_desc
from customers.models import Customer, Interaction
from extensions import db

KINDS = ("call", "email", "note", "ticket", "purchase", "merge", "reply", "status", "assignment", "chat", "web")


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
    when = occurred_at or utcnow()
    item = Interaction(customer_id=customer_id, kind=kind, channel=channel, direction=direction,
                       occurred_at=when, summary=(summary or "")[:500], ticket_id=ticket_id,
                       operator_id=operator_id, body=body, ref=ref, detail=detail or {})
    db.session.add(item)
    if kind in ("call", "email", "chat", "web", "reply"):
        customer = db.session.get(Customer, customer_id)
        if customer is not None and (customer.last_contact_at is None or customer.last_contact_at < when):
            customer.last_contact_at = when
    # No flush: the item goes out with the transaction's next flush (batched with its
    # neighbours); a ``ref`` lookup above autoflushes, so idempotency still holds.
    return item


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
