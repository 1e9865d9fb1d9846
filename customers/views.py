"""Pages: /customers (search, rank filter, import) and /customers/{id} (the profile)."""
from __future__ import annotations

from flask import Blueprint, abort, redirect, render_template, request, url_for
from flask_login import current_user

from accounts.permissions import page
from core import audit
from core.db import utcnow
from core.errors import Invalid, NotFound
from customers import merge, rfm, service
from customers.identity import display_phone
from customers.models import RANKS, Customer
from extensions import db

bp = Blueprint("customers", __name__)


@bp.route("/customers")
@page("operator")
def list_page():
    q = (request.args.get("q") or "").strip()[:200]
    rank = request.args.get("rank") if request.args.get("rank") in RANKS else None
    try:
        rows, next_cursor = service.search(q or None, rank, 50, request.args.get("cursor") or None)
    except Invalid:
        rows, next_cursor = service.search(q or None, rank, 50, None)
    return render_template("customers/list.html", customers=rows, q=q, rank=rank, ranks=RANKS,
                           next_cursor=next_cursor, display_phone=display_phone)


@bp.route("/customers/<int:customer_id>")
@page("operator")
def profile_page(customer_id: int):
    customer = db.session.get(Customer, customer_id)
    if customer is not None and customer.merged_into_id is not None:
        # A merged duplicate's old link leads to the customer who absorbed it.
        return redirect(url_for("customers.profile_page", customer_id=service._survivor(customer).id))
    try:
        customer = service.get(customer_id)
    except NotFound:
        abort(404)
    purchases, more_purchases = service.purchases(customer.id, 20)
    duplicates = merge.duplicates(customer) if customer.anonymized_at is None else []
    recency_days = (utcnow() - customer.last_purchase_at).days if customer.last_purchase_at else None
    audit.record("customer.view", customer_id=customer.id)
    db.session.commit()
    return render_template("customers/profile.html", customer=customer, purchases=purchases,
                           more_purchases=more_purchases is not None, recency_days=recency_days, duplicates=duplicates, ranks=RANKS,
                           thresholds=rfm.thresholds(), window_days=rfm.window_days(),
                           display_phone=display_phone, can_override=current_user.has_role("supervisor"),
                           can_anonymize=current_user.has_role("admin"))
