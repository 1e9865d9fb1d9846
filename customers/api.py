"""/api/v1/customers, /imports, /audit and /analytics (CONTRACT §3 "Customers", "Analytics").

Every handler has one shape: validate (schema) → authorise (``require``) → call a service
→ commit once → dump.  Reads of a profile, a timeline or an export are audit-logged.
"""
from __future__ import annotations

import os
import tempfile
import uuid

from flask import request
from flask.views import MethodView
from flask_login import current_user
from flask_smorest import Blueprint
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from accounts.permissions import require
from core import audit, jobs
from core.audit import AuditEntry
from core.errors import Conflict, Forbidden, Invalid, NotFound
from core.pagination import by_id_desc, envelope
from core.versioning import if_match_version
from customers import imports, merge, privacy, rfm, service, timeline
from customers.schemas import (
    AuditArgs,
    CustomerIn,
    CustomerListArgs,
    CustomerLookupArgs,
    CustomerMergeIn,
    CustomerNoteIn,
    CustomerOut,
    CustomerPatchIn,
    CustomerTimelineArgs,
    ImportUploadIn,
    InteractionOut,
    PurchaseIn,
    PurchaseOut,
)
from extensions import db

blp = Blueprint("customers_api", __name__, url_prefix="/api/v1", description="Customers: profiles, identities, "
                "timeline, purchases, merge, imports, audit")
analytics_blp = Blueprint("analytics_api", __name__, url_prefix="/api/v1", description="RFM ranks and deciles")


def _etag(customer) -> dict:
    return {"ETag": f'"{customer.version}"'}


def _actor_id() -> int | None:
    return getattr(current_user, "user_id", None)


def _identity_conflict(error: IntegrityError, data: dict):
    """A unique-index race on a phone/email (two writers at once) → the contract's 409."""
    db.session.rollback()
    for kind, key in (("phone", "phones"), ("email", "emails")):
        for raw in data.get(key) or []:
            owner = service.lookup(**{kind: raw})
            if owner is not None:
                return Conflict(f"The {kind} {raw} already belongs to customer {owner.id}.", customer_id=owner.id)
    return Conflict("The customer conflicts with a change made at the same time; try again.")


@blp.route("/customers")
class Customers(MethodView):
    @require("operator")
    @blp.arguments(CustomerListArgs, location="query")
    @blp.response(200)
    def get(self, args):
        """Search by name, furigana, phone (any format), email or company; filter by rank."""
        rows, cursor = service.search(args["q"], args["rank"], args["limit"], args["cursor"])
        return envelope(CustomerOut(many=True).dump(rows), cursor)

    @require("operator")
    @blp.arguments(CustomerIn)
    @blp.response(201, CustomerOut)
    def post(self, body):
        """Create a customer; a phone or email of another customer is a 409 naming them."""
        try:
            customer = service.create(body)
            audit.record("customer.create", customer_id=customer.id, detail={"name": customer.name})
            db.session.commit()
        except IntegrityError as error:
            raise _identity_conflict(error, body) from None
        return customer, _etag(customer)


@blp.route("/customers/lookup", methods=["GET"])
@require("operator")
@blp.arguments(CustomerLookupArgs, location="query")
@blp.response(200, CustomerOut)
def lookup(args):
    """The customer with this phone (any format) or email, or 404 (one indexed query)."""
    if not args.get("phone") and not args.get("email"):
        raise Invalid("Give phone or email.", fields={"phone": ["phone or email is required"]})
    customer = service.lookup(phone=args.get("phone"), email=None if args.get("phone") else args.get("email"),
                              with_identities=True)
    if customer is None or customer.merged_into_id is not None:
        raise NotFound("No customer with this phone or email.")
    audit.record("customer.lookup", customer_id=customer.id,
                 detail={"by": "phone" if args.get("phone") else "email"})
    db.session.commit()
    return customer, _etag(customer)


@blp.route("/customers/<int:customer_id>")
class CustomerItem(MethodView):
    @require("operator")
    @blp.response(200, CustomerOut)
    def get(self, customer_id):
        customer = service.get(customer_id)
        audit.record("customer.read", customer_id=customer.id)
        db.session.commit()
        return customer, _etag(customer)

    @require("operator")
    @blp.arguments(CustomerPatchIn)
    @blp.response(200, CustomerOut)
    def patch(self, body, customer_id):
        """Change the profile; send ``version`` or ``If-Match`` (stale → 409).  Only
        supervisors and admins set ``rank_override``."""
        customer = service.get(customer_id)
        header_version = if_match_version()
        expected = body.pop("version", None)
        if expected is not None and header_version is not None and expected != header_version:
            raise Invalid("version and If-Match disagree.", fields={"version": ["differs from If-Match"]})
        expected = expected if expected is not None else header_version
        if ("rank_override" in body and body["rank_override"] != customer.rank_override
                and not current_user.has_role("supervisor")):
            raise Forbidden("Only supervisors and admins set rank_override.")
        try:
            changed = service.update_profile(customer, body, expected_version=expected)
            if changed:
                audit.record("customer.update", customer_id=customer.id, detail={"changed": sorted(changed)})
            db.session.commit()
        except IntegrityError as error:
            raise _identity_conflict(error, body) from None
        return customer, _etag(customer)


@blp.route("/customers/<int:customer_id>/timeline", methods=["GET"])
@require("operator")
@blp.arguments(CustomerTimelineArgs, location="query")
@blp.response(200)
def get_timeline(args, customer_id):
    """Newest first; ``before`` (or ``cursor``) is the previous page's ``next_cursor``."""
    customer = service.get(customer_id)
    rows, cursor = timeline.page(customer.id, args["limit"], args["before"] or args["cursor"])
    audit.record("customer.timeline", customer_id=customer.id)
    db.session.commit()
    return envelope(InteractionOut(many=True).dump(rows), cursor)


@blp.route("/customers/<int:customer_id>/notes", methods=["POST"])
@require("operator")
@blp.arguments(CustomerNoteIn)
@blp.response(201, InteractionOut)
def add_note(body, customer_id):
    customer = service.get(customer_id)
    item = service.add_note(customer, body["body"], operator_id=_actor_id())
    db.session.commit()
    return item


@blp.route("/customers/<int:customer_id>/purchases")
class Purchases(MethodView):
    @require("operator")
    @blp.arguments(CustomerTimelineArgs, location="query")
    @blp.response(200)
    def get(self, args, customer_id):
        customer = service.get(customer_id)
        rows, cursor = service.purchases(customer.id, args["limit"], args["cursor"] or args["before"])
        return envelope(PurchaseOut(many=True).dump(rows), cursor)

    @require("operator")
    @blp.arguments(PurchaseIn)
    @blp.response(201, PurchaseOut)
    def post(self, body, customer_id):
        """A purchase (``amount`` = line total in yen); it lands on the timeline at ``purchased_at``."""
        customer = service.get(customer_id)
        purchase = service.add_purchase(customer, body, operator_id=_actor_id())
        db.session.commit()
        return purchase


@blp.route("/customers/<int:customer_id>/merge", methods=["POST"])
@require("operator")
@blp.arguments(CustomerMergeIn)
@blp.response(200, CustomerOut)
def merge_customer(body, customer_id):
    """Merge ``duplicate_id`` into this customer; the duplicate then answers 404."""
    survivor = merge.merge(customer_id, body["duplicate_id"], operator_id=_actor_id())
    db.session.commit()
    return survivor, _etag(survivor)


@blp.route("/customers/<int:customer_id>/duplicates", methods=["GET"])
@require("operator")
@blp.response(200)
def get_duplicates(customer_id):
    """Likely duplicates with the reasons (same name and furigana, same birthday, …)."""
    customer = service.get(customer_id)
    found = merge.duplicates(customer)
    return envelope([{**CustomerOut().dump(c), "reasons": reasons} for c, reasons in found], None)


@blp.route("/customers/<int:customer_id>/export", methods=["GET"])
@require("operator")
@blp.response(200)
def export_customer(customer_id):
    """Everything held about the customer (APPI disclosure); audit-logged."""
    body = privacy.export(service.get(customer_id))
    db.session.commit()
    return body


@blp.route("/customers/<int:customer_id>/anonymize", methods=["POST"])
@require("admin")
@blp.response(200, CustomerOut)
def anonymize_customer(customer_id):
    """Erase the personal data (APPI deletion request); purchases and counts stay."""
    customer = privacy.anonymize(service.get(customer_id))
    db.session.commit()
    return customer, _etag(customer)


@blp.route("/imports", methods=["POST"])
@require("operator")
@blp.arguments(ImportUploadIn, location="form")
@blp.response(202)
def start_import(form):
    """Upload a CSV (UTF-8 or Shift_JIS) or XLSX of customers or purchases → 202 job."""
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise Invalid("Attach the file as multipart field 'file'.", fields={"file": ["required"]})
    data = upload.read()
    if not data:
        raise Invalid("The file is empty.", fields={"file": ["empty"]})
    suffix = os.path.splitext(upload.filename)[1].lower() or ".csv"
    with tempfile.NamedTemporaryFile(suffix=suffix) as handle:
        handle.write(data)
        handle.flush()
        try:
            imports.check(handle.name, form["kind"], upload.filename)
        except imports.ImportFileError as error:
            raise Invalid(str(error), fields={"file": [str(error)]}) from None
    from core.redis_conn import get_redis
    from customers.jobs import UPLOAD_TTL_S, upload_key

    job_id = uuid.uuid4().hex
    get_redis().set(upload_key(job_id), data, ex=UPLOAD_TTL_S)
    jobs.enqueue("customers.jobs.import_file", job_id, form["kind"], upload.filename, _actor_id(),
                 job_id=job_id, retry=0, meta={"owner_id": _actor_id(), "kind": f"import.{form['kind']}"})
    db.session.commit()
    return {"job_id": job_id}


@blp.route("/audit", methods=["GET"])
@require("admin")
@blp.arguments(AuditArgs, location="query")
@blp.response(200)
def list_audit(args):
    """Audit rows ``{id, at, actor_id, actor_username, action, customer_id, detail}``, newest first."""
    statement = select(AuditEntry)
    if args["customer_id"] is not None:
        statement = statement.where(AuditEntry.customer_id == args["customer_id"])
    if args["action"]:
        statement = statement.where(AuditEntry.action == args["action"])
    rows, cursor = by_id_desc(statement, AuditEntry, args["limit"], args["cursor"])
    return envelope([row.to_dict() for row in rows], cursor)


@analytics_blp.route("/analytics/ranks/recompute", methods=["POST"])
@require("supervisor")
@analytics_blp.response(202)
def recompute_ranks():
    job_id = jobs.enqueue("customers.jobs.recompute_ranks", meta={"owner_id": _actor_id(), "kind": "ranks"})
    db.session.commit()
    return {"job_id": job_id}


@analytics_blp.route("/analytics/rfm", methods=["GET"])
@require("supervisor")
@analytics_blp.response(200)
def rfm_distribution():
    """Customers per rank and per R, F and M score, with the window and thresholds."""
    return rfm.distribution()


@analytics_blp.route("/analytics/deciles", methods=["GET"])
@require("supervisor")
@analytics_blp.response(200)
def rfm_deciles():
    """10 groups by spend over the window: customers, revenue, share (sums to total_revenue)."""
    return rfm.deciles()
