"""Input and output schemas of the customers API (separate In/Out, CONTRACT §3)."""
from __future__ import annotations

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

from marshmallow import EXCLUDE, Schema, ValidationError, fields, validate

from core.db import utcnow
from core.ids import MAX_ID
from core.pagination import PageArgs
from customers.identity import display_phone
from customers.models import RANKS
from customers.timeline import KINDS

_TEXT = validate.Length(max=200)
LOCAL_ZONE = ZoneInfo("Asia/Tokyo")


class LocalDateTime(fields.Field):
    """An ISO date-time; without an offset it is Japan time; a bare date is its midnight."""

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, str):
            raise ValidationError("Not a valid date-time.")
        try:
            parsed = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
        except ValueError:
            try:
                parsed = datetime.combine(date.fromisoformat(value.strip()), time())
            except ValueError:
                raise ValidationError("Not a valid date-time (ISO 8601).") from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=LOCAL_ZONE)

    def _serialize(self, value, attr, obj, **kwargs):
        return value.isoformat() if value is not None else None


class CustomerIn(Schema):
    class Meta:
        unknown = EXCLUDE  # read-only keys of CustomerOut (id, rank, rfm…) are ignored
    name = fields.String(required=True, validate=validate.Length(min=1, max=200))
    name_kana = fields.String(allow_none=True, validate=_TEXT)
    company = fields.String(allow_none=True, validate=_TEXT)
    emails = fields.List(fields.String(validate=validate.Length(max=320)), load_default=list,
                         validate=validate.Length(max=20))
    phones = fields.List(fields.String(validate=validate.Length(max=40)), load_default=list,
                         validate=validate.Length(max=20))
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    birthday = fields.Date(allow_none=True)
    dm_opt_in = fields.Boolean(load_default=False)
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=40)), load_default=list,
                       validate=validate.Length(max=50))


class CustomerPatchIn(Schema):
    class Meta:
        unknown = EXCLUDE  # a GET body sent back as a PATCH is valid input
    name = fields.String(validate=validate.Length(min=1, max=200))
    name_kana = fields.String(allow_none=True, validate=_TEXT)
    company = fields.String(allow_none=True, validate=_TEXT)
    emails = fields.List(fields.String(validate=validate.Length(max=320)), validate=validate.Length(max=20))
    phones = fields.List(fields.String(validate=validate.Length(max=40)), validate=validate.Length(max=20))
    address = fields.String(allow_none=True, validate=validate.Length(max=500))
    birthday = fields.Date(allow_none=True)
    dm_opt_in = fields.Boolean()
    tags = fields.List(fields.String(validate=validate.Length(min=1, max=40)), validate=validate.Length(max=50))
    rank_override = fields.String(allow_none=True, validate=validate.OneOf(RANKS))
    version = fields.Integer(validate=validate.Range(min=1))


class RfmOut(Schema):
    recency_days = fields.Method("_recency", allow_none=True)
    frequency = fields.Integer()
    monetary = fields.Integer()
    r = fields.Integer(attribute="r_score", allow_none=True)
    f = fields.Integer(attribute="f_score", allow_none=True)
    m = fields.Integer(attribute="m_score", allow_none=True)

    def _recency(self, customer):
        # Days since the last purchase, as of now (not as of the last recompute).
        if customer.last_purchase_at is None:
            return None
        return max(0, (utcnow() - customer.last_purchase_at).days)


class CustomerOut(Schema):
    id = fields.Integer()
    name = fields.String()
    name_kana = fields.String(allow_none=True)
    company = fields.String(allow_none=True)
    emails = fields.List(fields.String())
    phones = fields.List(fields.String())
    phones_display = fields.Method("_phones_display")
    address = fields.String(allow_none=True)
    birthday = fields.Date(allow_none=True)
    rank = fields.String()
    rank_computed = fields.String()
    rank_override = fields.String(allow_none=True)
    rfm = fields.Function(lambda customer: RfmOut().dump(customer))
    ltv = fields.Integer()
    dm_opt_in = fields.Boolean()
    tags = fields.List(fields.String())
    version = fields.Integer()
    created_at = fields.DateTime()
    updated_at = fields.DateTime()
    last_contact_at = fields.DateTime(allow_none=True)
    last_purchase_at = fields.DateTime(allow_none=True)
    anonymized = fields.Function(lambda customer: customer.anonymized_at is not None)

    def _phones_display(self, customer):
        return [display_phone(p) for p in customer.phones]


class CustomerListArgs(PageArgs):
    q = fields.String(load_default=None, validate=validate.Length(max=200))
    rank = fields.String(load_default=None, validate=validate.OneOf(RANKS))


class CustomerLookupArgs(Schema):
    phone = fields.String(validate=validate.Length(min=1, max=60))
    email = fields.String(validate=validate.Length(min=1, max=320))


class CustomerTimelineArgs(Schema):
    limit = fields.Integer(load_default=50, validate=validate.Range(1, 200))
    before = fields.String(load_default=None)
    # The previous page's next_cursor also works under the generic name (CONTRACT §8).
    cursor = fields.String(load_default=None)


class InteractionOut(Schema):
    id = fields.Integer()
    kind = fields.String(metadata={"enum": list(KINDS)})
    channel = fields.String(allow_none=True)
    direction = fields.String(allow_none=True)
    occurred_at = fields.DateTime()
    summary = fields.String()
    body = fields.String(allow_none=True)
    ticket_id = fields.Integer(allow_none=True)
    operator_id = fields.Integer(allow_none=True)
    detail = fields.Dict()


class CustomerNoteIn(Schema):
    body = fields.String(required=True, validate=validate.Length(min=1, max=20000))


class PurchaseIn(Schema):
    product = fields.String(required=True, validate=validate.Length(min=1, max=200))
    amount = fields.Integer(required=True, strict=True, validate=validate.Range(min=0, max=10**12))
    quantity = fields.Integer(load_default=1, strict=True, validate=validate.Range(min=1, max=10**6))
    purchased_at = LocalDateTime(load_default=None, metadata={"type": "string", "format": "date-time"})


class PurchaseOut(Schema):
    id = fields.Integer()
    customer_id = fields.Integer()
    product = fields.String()
    quantity = fields.Integer()
    amount = fields.Integer()
    purchased_at = fields.DateTime()
    external_ref = fields.String(allow_none=True)


class CustomerMergeIn(Schema):
    duplicate_id = fields.Integer(required=True, strict=True, validate=validate.Range(min=1, max=MAX_ID))


class AuditArgs(PageArgs):
    customer_id = fields.Integer(load_default=None, validate=validate.Range(min=1, max=MAX_ID))
    action = fields.String(load_default=None, validate=validate.Length(max=60))


class ImportUploadIn(Schema):
    kind = fields.String(required=True, validate=validate.OneOf(["customers", "purchases"]))
