"""APPI: a customer's data export (disclosure request) and anonymisation (deletion request)."""
from __future__ import annotations

from sqlalchemy import delete, select, update

from core import audit
from core.db import utcnow
from core.errors import Conflict
from customers import timeline
from customers.models import Customer, CustomerIdentity, Interaction, Purchase
from extensions import db

ANONYMISED_NAME = "(anonymised)"


def export(customer: Customer) -> dict:
    """Everything held about a customer: profile, identities, purchases, timeline.  The
    read is audit-logged (CONTRACT §3)."""
    from customers.schemas import CustomerOut, PurchaseOut

    purchases = db.session.scalars(select(Purchase).where(Purchase.customer_id == customer.id)
                                   .order_by(Purchase.purchased_at, Purchase.id))
    items = db.session.scalars(select(Interaction).where(Interaction.customer_id == customer.id)
                               .order_by(Interaction.occurred_at, Interaction.id))
    audit.record("customer.export", customer_id=customer.id)
    return {"customer": CustomerOut().dump(customer), "purchases": PurchaseOut(many=True).dump(purchases),
            "timeline": [{**timeline.to_dict(i), "body": i.body} for i in items], "exported_at": utcnow().isoformat()}


def anonymize(customer: Customer) -> Customer:
    """Erase the personal fields (name, furigana, company, address, birthday, phones,
    emails, tags, free text on the timeline) and keep purchases, ranks and counts for
    analytics.  Irreversible; audit-logged."""
    if customer.anonymized_at is not None:
        raise Conflict("This customer is already anonymised.")
    erased_identities = db.session.execute(
        delete(CustomerIdentity).where(CustomerIdentity.customer_id == customer.id)
        .execution_options(synchronize_session=False)).rowcount
    # Timeline items keep kind, channel, time and links; their text may hold personal data.
    db.session.execute(update(Interaction).where(Interaction.customer_id == customer.id, Interaction.kind != "purchase")
                       .values(summary="", body=None, detail={}).execution_options(synchronize_session=False))
    db.session.expire(customer, ["identities"])
    customer.name = ANONYMISED_NAME
    customer.name_kana = customer.company = customer.address = customer.birthday = None
    customer.tags = []
    customer.dm_opt_in = False
    customer.external_ref = None
    customer.anonymized_at = utcnow()
    customer.version += 1
    db.session.flush()
    audit.record("customer.anonymize", customer_id=customer.id, detail={"identities_erased": erased_identities})
    return customer
