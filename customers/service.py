"""Operations on customers: identities, lookup, create, resolve a contact.  Callers commit."""
from __future__ import annotations

from flask import current_app
from sqlalchemy import select

from core.errors import Conflict, NotFound
from customers.events import customer_created
from customers.identity import email_or_none, normalize_email, normalize_phone, phone_or_none
from customers.models import Customer, CustomerIdentity
from extensions import db


def get(customer_id: int) -> Customer:
    """An active customer or 404 (merged duplicates answer 404)."""
    customer = db.session.get(Customer, customer_id)
    if customer is None or customer.merged_into_id is not None:
        raise NotFound("No such customer.")
    return customer


def find_by_identity(kind: str, value: str) -> Customer | None:
    """The owner of a normalised phone/email: one indexed query."""
    return db.session.scalar(
        select(Customer).join(CustomerIdentity, CustomerIdentity.customer_id == Customer.id)
        .where(CustomerIdentity.kind == kind, CustomerIdentity.value == value))


def lookup(*, phone: str | None = None, email: str | None = None) -> Customer | None:
    """The customer with this phone (any format) or email (any case), or None."""
    if phone is not None:
        normalised = phone_or_none(phone)
        return find_by_identity("phone", normalised) if normalised else None
    if email is not None:
        normalised = email_or_none(email)
        return find_by_identity("email", normalised) if normalised else None
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
    customer = Customer(
        name=data["name"].strip(), name_kana=(data.get("name_kana") or None), company=data.get("company"),
        address=data.get("address"), birthday=data.get("birthday"), dm_opt_in=bool(data.get("dm_opt_in", False)),
        tags=sorted(set(data.get("tags") or [])))
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
