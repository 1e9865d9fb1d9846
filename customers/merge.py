"""Merging a duplicate into a customer, and finding likely duplicates."""
from __future__ import annotations

import re

from flask import current_app
from sqlalchemy import or_, select, update

from core import audit
from core.db import utcnow
from core.errors import Conflict, Invalid
from customers import rfm, service, timeline
from customers.events import customers_merged
from customers.models import Customer, CustomerIdentity, Interaction, Purchase
from extensions import db


def merge(survivor_id: int, duplicate_id: int, *, operator_id: int | None = None) -> Customer:
    """Move the duplicate's identities, purchases and timeline to the survivor (tickets
    move through the ``customers_merged`` signal, in the same transaction), fill the
    survivor's empty fields from the duplicate, and retire the duplicate (404 from then on).
    """
    if survivor_id == duplicate_id:
        raise Invalid("A customer cannot be merged into itself.", fields={"duplicate_id": ["same customer"]})
    survivor = service.get(survivor_id)
    duplicate = service.get(duplicate_id)
    if survivor.anonymized_at is not None or duplicate.anonymized_at is not None:
        raise Conflict("An anonymised customer cannot be merged.")
    moved = {}
    for model, key in ((CustomerIdentity, "identities"), (Purchase, "purchases"), (Interaction, "interactions")):
        result = db.session.execute(update(model).where(model.customer_id == duplicate.id)
                                    .values(customer_id=survivor.id).execution_options(synchronize_session=False))
        moved[key] = result.rowcount
    # Earlier merges into the duplicate now point at the survivor (no chains).
    db.session.execute(update(Customer).where(Customer.merged_into_id == duplicate.id)
                       .values(merged_into_id=survivor.id).execution_options(synchronize_session=False))
    for field in ("name_kana", "company", "address", "birthday"):
        if getattr(survivor, field) in (None, "") and getattr(duplicate, field) not in (None, ""):
            setattr(survivor, field, getattr(duplicate, field))
    survivor.tags = sorted(set(survivor.tags or []) | set(duplicate.tags or []))
    survivor.dm_opt_in = survivor.dm_opt_in or duplicate.dm_opt_in
    if duplicate.last_contact_at and (survivor.last_contact_at is None
                                      or duplicate.last_contact_at > survivor.last_contact_at):
        survivor.last_contact_at = duplicate.last_contact_at
    survivor.version += 1
    survivor.updated_at = utcnow()
    duplicate.merged_into_id = survivor.id
    duplicate.version += 1
    duplicate.external_ref = None
    db.session.flush()
    db.session.expire(survivor, ["identities"])
    db.session.expire(duplicate, ["identities"])
    timeline.record(survivor.id, "merge", summary=f"#{duplicate.id} {duplicate.name}", operator_id=operator_id,
                    ref=f"merge:{duplicate.id}", detail={"duplicate_id": duplicate.id, "moved": moved})
    customers_merged.send(current_app._get_current_object(), survivor_id=survivor.id, duplicate_id=duplicate.id)
    audit.record("customer.merge", customer_id=survivor.id,
                 detail={"duplicate_id": duplicate.id, "duplicate_name": duplicate.name, "moved": moved})
    audit.record("customer.merged_away", customer_id=duplicate.id, detail={"survivor_id": survivor.id})
    rfm.refresh_customer(survivor.id)
    return survivor


def _gmail_key(email: str) -> str | None:
    local, _, domain = email.partition("@")
    if domain not in ("gmail.com", "googlemail.com"):
        return None
    return re.sub(r"\+.*$", "", local).replace(".", "") + "@gmail.com"


def duplicates(customer: Customer, limit: int = 10) -> list[tuple[Customer, list[str]]]:
    """Likely duplicates of ``customer`` with the reasons: the same name and furigana,
    the same name with the same birthday / company / address, the same furigana and
    birthday, the same normalised phone or email (an email of one customer equal to
    another's after Gmail's dot/plus rules, or the same phone number in another field)."""
    found: dict[int, list[str]] = {}

    def add(rows, reason):
        for row in rows:
            if row.id != customer.id:
                found.setdefault(row.id, [])
                if reason not in found[row.id]:
                    found[row.id].append(reason)

    active = (Customer.merged_into_id.is_(None), Customer.anonymized_at.is_(None), Customer.id != customer.id)
    if customer.name_key:
        same_name = list(db.session.scalars(select(Customer).where(Customer.name_key == customer.name_key, *active)
                                            .limit(50)))
        for other in same_name:
            if customer.name_kana and other.sort_key == customer.sort_key:
                add([other], "same_name_kana")
            for field, reason in (("birthday", "same_name_birthday"), ("company", "same_name_company"),
                                  ("address", "same_name_address")):
                if getattr(customer, field) and getattr(customer, field) == getattr(other, field):
                    add([other], reason)
            if not customer.name_kana or not other.name_kana:
                add([other], "same_name")
    if customer.name_kana and customer.birthday:
        add(db.session.scalars(select(Customer).where(Customer.sort_key == customer.sort_key,
                                                      Customer.birthday == customer.birthday, *active).limit(20)),
            "same_kana_birthday")
    keys = {k for k in (_gmail_key(e) for e in customer.emails) if k}
    if keys:
        candidates = db.session.scalars(
            select(CustomerIdentity).where(CustomerIdentity.kind == "email",
                                           or_(CustomerIdentity.value.like("%@gmail.com"),
                                               CustomerIdentity.value.like("%@googlemail.com")),
                                           CustomerIdentity.customer_id != customer.id).limit(5000))
        owners = [i.customer_id for i in candidates if _gmail_key(i.value) in keys]
        if owners:
            add(db.session.scalars(select(Customer).where(Customer.id.in_(owners), *active)), "same_email")
    # A phone or email typed into another customer's free-text fields (imports often do).
    for value in customer.phones + customer.emails:
        needle = value if "@" in value else "0" + value[3:] if value.startswith("+81") else value
        add(db.session.scalars(select(Customer).where(
            or_(Customer.address.contains(needle), Customer.company.contains(needle)), *active).limit(10)),
            "same_phone" if "@" not in value else "same_email")
    if not found:
        return []
    rows = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(list(found))))}
    ordered = sorted(found, key=lambda cid: (-len(found[cid]), cid))[:limit]
    return [(rows[cid], found[cid]) for cid in ordered if cid in rows]

