"""Operations on customers: identities, lookup, create, update, search, notes, purchases,
resolve a contact.  Services flush; callers commit."""
from __future__ import annotations

import re
import unicodedata
from datetime import UTC

from flask import current_app
from sqlalchemy import and_, bindparam, exists, func, or_, select, update
from sqlalchemy.orm import joinedload, load_only

from core.db import utcnow
from core.errors import Conflict, Invalid, NotFound
from core.pagination import by_time_desc, decode, encode
from customers import timeline
from customers.events import customer_created
from customers.identity import (
    email_or_none,
    kana_key,
    name_key,
    normalize_email,
    normalize_phone,
    phone_or_none,
)
from customers.models import Customer, CustomerIdentity, Purchase
from extensions import db

PROFILE_FIELDS = ("name", "name_kana", "company", "address", "birthday", "dm_opt_in", "tags")


def get(customer_id: int) -> Customer:
    """An active customer or 404 (merged duplicates answer 404)."""
    customer = db.session.get(Customer, customer_id)
    if customer is None or customer.merged_into_id is not None:
        raise NotFound("No such customer.")
    return customer


# A customer as a new ticket needs it (name, rank, merge state): a third of the full row's cost.
_BRIEF = (select(Customer)
          .options(load_only(Customer.name, Customer.rank_override, Customer.rank_computed, Customer.merged_into_id,
                             Customer.last_contact_at))
          .where(Customer.id == bindparam("customer_id")))


def get_brief(customer_id: int) -> Customer:
    """``get`` that loads only the name, rank and merge state (other columns load when
    first read)."""
    customer = db.session.execute(_BRIEF, {"customer_id": customer_id}).scalar_one_or_none()
    if customer is None or customer.merged_into_id is not None:
        raise NotFound("No such customer.")
    return customer


def find_by_identity(kind: str, value: str, *, with_identities: bool = False) -> Customer | None:
    """The owner of a normalised phone/email: one indexed query (the unique index on
    ``(kind, value)``).  ``with_identities`` loads the owner's phones and emails in the
    same statement, so a lookup answers in one round trip."""
    statement = (select(Customer).join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
                 .where(CustomerIdentity.kind == kind, CustomerIdentity.value == value))
    if with_identities:
        statement = statement.options(joinedload(Customer.identities))
        return db.session.execute(statement).unique().scalar_one_or_none()
    return db.session.scalar(statement)


def lookup(*, phone: str | None = None, email: str | None = None,
           with_identities: bool = False) -> Customer | None:
    """The customer with this phone (any format) or email (any case), or None."""
    if phone is not None:
        normalised = phone_or_none(phone)
        return find_by_identity("phone", normalised, with_identities=with_identities) if normalised else None
    if email is not None:
        normalised = email_or_none(email)
        return find_by_identity("email", normalised, with_identities=with_identities) if normalised else None
    return None


def add_identity(customer: Customer, kind: str, raw: str) -> CustomerIdentity | None:
    """Attach a phone or email; one that belongs to someone else is a 409 naming them."""
    value = normalize_phone(raw) if kind == "phone" else normalize_email(raw)
    owner = find_by_identity(kind, value)
    if owner is not None:
        if owner.id == customer.id:
            return None
        raise Conflict(f"The {kind} {value} already belongs to customer {owner.id}.", customer_id=owner.id)
    identity = CustomerIdentity(kind=kind, value=value)
    customer.identities.append(identity)
    return identity


def set_identities(customer: Customer, kind: str, values: list[str]) -> None:
    """Replace the customer's phones or emails with ``values`` (normalised, de-duplicated)."""
    wanted: list[str] = []
    for raw in values:
        value = normalize_phone(raw) if kind == "phone" else normalize_email(raw)
        if value not in wanted:
            wanted.append(value)
    for identity in [i for i in customer.identities if i.kind == kind and i.value not in wanted]:
        customer.identities.remove(identity)
    db.session.flush()
    for value in wanted:
        add_identity(customer, kind, value)


def create(data: dict) -> Customer:
    """Create a customer from validated input (name, name_kana, emails, phones, …)."""
    name = (data.get("name") or "").strip()
    if not name:
        raise Invalid("A name is required.", fields={"name": ["required"]})
    customer = Customer(
        name=name, name_kana=_clean(data.get("name_kana")), company=_clean(data.get("company")),
        address=_clean(data.get("address")), birthday=data.get("birthday"), dm_opt_in=bool(data.get("dm_opt_in", False)),
        tags=_tags(data.get("tags")), external_ref=data.get("external_ref"))
    db.session.add(customer)
    for raw in data.get("phones") or []:
        add_identity(customer, "phone", raw)
    for raw in data.get("emails") or []:
        add_identity(customer, "email", raw)
    db.session.flush()
    customer_created.send(current_app._get_current_object(), customer_id=customer.id)
    return customer


def resolve_contact(*, email: str | None = None, phone: str | None = None, name: str | None = None,
                    create_missing: bool = True) -> Customer | None:
    """The customer a contact (mail sender, caller, web form) belongs to; created when
    unknown and ``create_missing``.  Unparseable identities are ignored."""
    email_value = email_or_none(email)
    phone_value = phone_or_none(phone)
    for kind, value in (("email", email_value), ("phone", phone_value)):
        if value:
            found = find_by_identity(kind, value)
            if found is not None:
                return _survivor(found)
    if not create_missing or not (email_value or phone_value or name):
        return None
    display = (name or "").strip() or (email_value.split("@")[0] if email_value else phone_value) or "?"
    return create({"name": display[:200], "emails": [email_value] if email_value else [],
                   "phones": [phone_value] if phone_value else []})


def _survivor(customer: Customer) -> Customer:
    """Follow merges to the customer that absorbed this one."""
    seen = set()
    while customer.merged_into_id is not None and customer.id not in seen:
        seen.add(customer.id)
        customer = db.session.get(Customer, customer.merged_into_id)
    return customer


def _clean(value):
    if isinstance(value, str):
        value = value.strip()
    return value or None


def _tags(values) -> list[str]:
    return sorted({str(t).strip() for t in values or [] if str(t).strip()})


def claim_version(customer: Customer, expected: int | None) -> None:
    """Bump ``customer.version`` atomically; a stale ``expected`` version is a 409.

    The ``UPDATE … WHERE version = :expected`` is the check, so two concurrent writers
    with the same version cannot both succeed (the second matches no row)."""
    if expected is None:
        customer.version += 1
        return
    if expected != customer.version:
        raise Conflict(f"The customer was changed by someone else (version {customer.version}, "
                       f"you sent {expected}); reload and try again.", current_version=customer.version)
    result = db.session.execute(
        update(Customer).where(Customer.id == customer.id, Customer.version == expected)
        .values(version=expected + 1).execution_options(synchronize_session=False))
    if result.rowcount != 1:
        db.session.refresh(customer)
        raise Conflict("The customer was changed by someone else; reload and try again.",
                       current_version=customer.version)
    db.session.expire(customer, ["version"])


def update_profile(customer: Customer, changes: dict, *, expected_version: int | None) -> dict:
    """Apply validated ``changes`` (PROFILE_FIELDS, phones, emails, rank_override) with an
    optimistic version check.  Returns ``{field: new value}`` of what changed (for audit)."""
    if customer.anonymized_at is not None:
        raise Conflict("This customer was anonymised; the profile can no longer change.")
    changed: dict = {}
    for field in PROFILE_FIELDS:
        if field not in changes:
            continue
        value = changes[field]
        if field == "name":
            value = (value or "").strip()
            if not value:
                raise Invalid("A name is required.", fields={"name": ["required"]})
        elif field == "tags":
            value = _tags(value)
        elif field in ("name_kana", "company", "address"):
            value = _clean(value)
        if getattr(customer, field) != value:
            setattr(customer, field, value)
            changed[field] = value.isoformat() if hasattr(value, "isoformat") else value
    for kind, key in (("phone", "phones"), ("email", "emails")):
        if key in changes:
            before = [i.value for i in customer.identities if i.kind == kind]
            set_identities(customer, kind, changes[key])
            after = [i.value for i in customer.identities if i.kind == kind]
            if sorted(before) != sorted(after):
                changed[key] = after
    if "rank_override" in changes and changes["rank_override"] != customer.rank_override:
        customer.rank_override = changes["rank_override"]
        changed["rank_override"] = customer.rank_override
    if changed or expected_version is not None:
        claim_version(customer, expected_version)
        customer.updated_at = utcnow()
    db.session.flush()
    return changed


_LIKE_ESCAPE = re.compile(r"([\\%_])")
_PHONE_CHARS = re.compile(r"^[\d\s\-‐‑‒–—―−ーｰ－().+]+$")


def _like(text: str) -> str:
    return "%" + _LIKE_ESCAPE.sub(r"\\\1", text) + "%"


def search(q: str | None = None, rank: str | None = None, limit: int = 50,
           cursor: str | None = None) -> tuple[list[Customer], str | None]:
    """Customers sorted by furigana (then id), keyset-paged; ``q`` matches name, kana
    (hiragana or katakana), company, email, or a phone in any format (whole or part)."""
    statement = select(Customer).where(Customer.merged_into_id.is_(None))
    if rank:
        statement = statement.where(func.coalesce(Customer.rank_override, Customer.rank_computed) == rank)
    text = unicodedata.normalize("NFKC", q or "").strip()
    if text:
        conditions = [Customer.name_key.like(_like(name_key(text)), escape="\\"),
                      Customer.sort_key.like(_like(kana_key(text)), escape="\\"),
                      Customer.company.ilike(_like(text), escape="\\")]
        identity = select(CustomerIdentity.id).where(CustomerIdentity.customer_id == Customer.id)
        if "@" in text or not _PHONE_CHARS.match(text):
            conditions.append(exists(identity.where(
                CustomerIdentity.kind == "email",
                CustomerIdentity.value.like(_like(text.casefold()), escape="\\"))))
        else:
            whole = phone_or_none(text)
            digits = re.sub(r"\D", "", text)
            if whole:
                conditions.append(exists(identity.where(CustomerIdentity.kind == "phone",
                                                        CustomerIdentity.value == whole)))
            elif len(digits) >= 3:
                # A part of a number: national digits without the trunk 0 appear inside E.164.
                part = digits[1:] if digits.startswith("0") else digits
                conditions.append(exists(identity.where(CustomerIdentity.kind == "phone",
                                                        CustomerIdentity.value.like(_like(part)))))
        statement = statement.where(or_(*conditions))
    after = decode(cursor, 2)
    if after is not None:
        if not isinstance(after[1], int) or not isinstance(after[0], str):
            raise Invalid("The cursor is not valid.", fields={"cursor": ["invalid"]})
        statement = statement.where(or_(Customer.sort_key > after[0],
                                        and_(Customer.sort_key == after[0], Customer.id > after[1])))
    statement = statement.order_by(Customer.sort_key, Customer.id).limit(limit + 1)
    rows = list(db.session.scalars(statement.options(joinedload(Customer.identities))).unique())
    next_cursor = None
    if len(rows) > limit:
        last = rows[limit - 1]
        next_cursor = encode([last.sort_key or "", last.id])
    return rows[:limit], next_cursor


def add_note(customer: Customer, body: str, *, operator_id: int | None = None):
    """A note on the timeline (first line as summary, whole text as body)."""
    text = (body or "").strip()
    if not text:
        raise Invalid("A note needs some text.", fields={"body": ["required"]})
    first_line = text.splitlines()[0]
    item = timeline.record(customer.id, "note", summary=first_line[:500], body=text, operator_id=operator_id)
    db.session.flush()  # the caller answers with the item's id
    return item


def add_purchase(customer: Customer, data: dict, *, operator_id: int | None = None) -> Purchase:
    """Record a purchase and its timeline item (``occurred_at`` = ``purchased_at``), and
    refresh the customer's RFM figures against the current population."""
    from customers import rfm

    when = (data.get("purchased_at") or utcnow()).astimezone(UTC)
    purchase = Purchase(customer_id=customer.id, product=data["product"].strip(),
                        quantity=int(data.get("quantity") or 1), amount=int(data["amount"]),
                        purchased_at=when, external_ref=data.get("external_ref"))
    db.session.add(purchase)
    db.session.flush()
    timeline.record(customer.id, "purchase", summary=purchase_summary(purchase), occurred_at=when,
                    operator_id=operator_id, ref=f"purchase:{purchase.id}",
                    detail={"purchase_id": purchase.id, "amount": purchase.amount, "quantity": purchase.quantity})
    rfm.refresh_customer(customer.id)
    return purchase


def purchase_summary(purchase: Purchase) -> str:
    quantity = f" ×{purchase.quantity}" if purchase.quantity != 1 else ""
    return f"{purchase.product}{quantity} ¥{purchase.amount:,}"


def purchases(customer_id: int, limit: int = 50, cursor: str | None = None) -> tuple[list[Purchase], str | None]:
    """A customer's purchases, newest first (keyset over ``(purchased_at, id)``)."""
    return by_time_desc(select(Purchase).where(Purchase.customer_id == customer_id),
                        Purchase.purchased_at, Purchase.id, limit, cursor)
