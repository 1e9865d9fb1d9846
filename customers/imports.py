"""Importing customers and purchases from CSV/XLSX: rows are read in constant memory,
applied in batches (each committed), bad rows reported with their line numbers while the
good ones import, and a second run of the same file changes nothing.

Idempotence: a customer row is the customer owning its phone/email, else the one with its
code (``external_ref = "code:…"``), else the one with the digest of its personal fields.
A purchase row's key is its order id (+ line digest) or the digest of the whole row plus
its occurrence number in the file, stored in ``purchases.external_ref``.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC

from flask import current_app
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import selectinload

from core import audit
from core.db import utcnow
from customers import import_reader as reader
from customers.events import customer_created
from customers.identity import email_or_none, kana_key, name_key, phone_or_none
from customers.import_reader import ImportFileError, RowSource
from customers.models import Customer, CustomerIdentity, Interaction, Purchase
from customers.service import purchase_summary
from extensions import db

KINDS = ("customers", "purchases")
MAX_ERRORS = 1000
BATCH = 1000


class Result:
    def __init__(self, kind: str):
        self.kind = kind
        self.rows = self.created = self.updated = self.unchanged = self.imported = self.skipped = 0
        self.errors: list[dict] = []
        self.error_count = 0

    def error(self, line: int, message: str) -> None:
        self.error_count += 1
        if len(self.errors) < MAX_ERRORS:
            self.errors.append({"line": line, "message": message})

    def counts(self) -> dict:
        return {k: v for k, v in self.as_dict().items() if k != "errors"}

    def as_dict(self) -> dict:
        body = {"kind": self.kind, "rows": self.rows, "errors": self.errors, "error_count": self.error_count,
                "errors_truncated": self.error_count > len(self.errors)}
        if self.kind == "customers":
            body.update(created=self.created, updated=self.updated, unchanged=self.unchanged)
        else:
            body.update(imported=self.imported, skipped=self.skipped)
        return body


def run(path: str, kind: str, *, filename: str = "", progress: Callable[[float, dict], None] | None = None,
        batch_size: int = BATCH, actor_id: int | None = None) -> dict:
    """Import ``path`` (CSV or XLSX); commits after every batch; returns the summary with
    ``errors: [{line, message}]``.  Raises ``ImportFileError`` when the file is unreadable."""
    if kind not in KINDS:
        raise ImportFileError(f"kind must be one of {', '.join(KINDS)}")
    source = RowSource(path, filename)
    result = Result(kind)
    apply = _apply_customers if kind == "customers" else _apply_purchases
    state: dict = {"occurrences": {}}
    batch: list[tuple[int, dict]] = []
    rows = iter(source)
    first = next(rows, None)  # reads the header
    if source.header is None:
        raise ImportFileError("The file is empty.")
    if not _has_required(source.header, kind):
        raise ImportFileError(_missing_message(kind))
    for line, row in _chain(first, rows):
        result.rows += 1
        if "__error__" in row:
            result.error(line, row["__error__"])
            continue
        batch.append((line, row))
        if len(batch) >= batch_size:
            _apply_batch(apply, batch, result, state)
            batch = []
            if progress:
                progress(source.progress(), result.counts())
    if batch:
        _apply_batch(apply, batch, result, state)
    actor = None
    if actor_id is not None:
        from accounts.models import User

        actor = db.session.get(User, actor_id)
    audit.record(f"import.{kind}", actor=actor,
                 detail=result.counts() | {"filename": filename or path.rsplit("/", 1)[-1]})
    db.session.commit()
    if progress:
        progress(1.0, result.counts())
    return result.as_dict()


def check(path: str, kind: str, filename: str = "") -> None:
    """Raise ``ImportFileError`` unless the file is readable and has the needed columns
    (called at upload, so a wrong file is a 422 at once rather than a failed job)."""
    if kind not in KINDS:
        raise ImportFileError(f"kind must be one of {', '.join(KINDS)}")
    source = RowSource(path, filename)
    rows = iter(source)
    try:
        next(rows, None)
    finally:
        rows.close()
    if source.header is None:
        raise ImportFileError("The file is empty.")
    if not _has_required(source.header, kind):
        raise ImportFileError(_missing_message(kind))


def _chain(first, rows):
    if first is not None:
        yield first
    yield from rows


def _has_required(header, kind: str) -> bool:
    columns = set(filter(None, header.columns))
    if kind == "customers":
        return bool(columns & {"name", "last_name"})
    return (bool(columns & {"amount", "unit_price"}) and "purchased_at" in columns and "product" in columns
            and bool(columns & {"id", "code", "phone", "email"}))


def _missing_message(kind: str) -> str:
    if kind == "customers":
        return "A customer file needs a name column (氏名 / name)."
    return ("A purchase file needs 商品名/product, 購入日/purchased_at, 金額/amount and a customer column "
            "(顧客ID/code, 電話番号/phone or メール/email).")


def _apply_batch(apply, batch, result: Result, state: dict) -> None:
    """Apply a batch and commit; if the batch hits a unique index (a concurrent writer),
    redo it row by row so only the conflicting rows fail."""
    snapshot = _counters(result)
    try:
        apply(batch, result, state)
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        _restore(result, snapshot)
        for item in batch:
            try:
                apply([item], result, state)
                db.session.commit()
            except IntegrityError:
                db.session.rollback()
                result.error(item[0], "conflicts with a row written at the same time; import the file again")


def _counters(result: Result) -> tuple:
    return (result.created, result.updated, result.unchanged, result.imported, result.skipped,
            len(result.errors), result.error_count)


def _restore(result: Result, snapshot: tuple) -> None:
    (result.created, result.updated, result.unchanged, result.imported, result.skipped,
     errors, result.error_count) = snapshot
    del result.errors[errors:]


def _digest(*parts) -> str:
    return hashlib.sha1("\x1f".join(str(p or "") for p in parts).encode()).hexdigest()[:32]


# ---- customers ----------------------------------------------------------------------

def _customer_fields(row: dict) -> dict:
    """Validated profile fields of a row; raises ValueError naming the problem."""
    name = row.get("name")
    if name is None and (row.get("last_name") or row.get("first_name")):
        name = " ".join(reader.clean_text(row[k]) for k in ("last_name", "first_name") if row.get(k))
    name = reader.clean_text(name) if name is not None else ""
    if not name:
        raise ValueError("name (氏名) is empty")
    kana = row.get("name_kana")
    if kana is None and (row.get("last_kana") or row.get("first_kana")):
        kana = " ".join(reader.clean_text(row[k]) for k in ("last_kana", "first_kana") if row.get(k))
    fields: dict = {"name": name[:200]}
    if kana:
        fields["name_kana"] = reader.clean_text(kana)[:200]
    if row.get("company"):
        fields["company"] = reader.clean_text(row["company"])[:200]
    address = " ".join(reader.clean_text(p) for p in row.get("address", []))
    if row.get("postal_code"):
        address = f"〒{reader.clean_text(row['postal_code'])} {address}".strip()
    if address:
        fields["address"] = address[:500]
    if row.get("birthday"):
        try:
            fields["birthday"] = reader.parse_date(row["birthday"])
        except ValueError as error:
            raise ValueError(f"birthday (生年月日): {error}") from None
    if "dm_opt_in" in row:
        try:
            fields["dm_opt_in"] = reader.parse_flag(row["dm_opt_in"])
        except ValueError as error:
            raise ValueError(f"DM: {error}") from None
    if row.get("tags"):
        fields["tags"] = sorted(set(reader.parse_tags(row["tags"])))
    phones, emails = [], []
    for raw in row.get("phone", []):
        value = phone_or_none(reader.clean_text(raw))
        if value is None:
            raise ValueError(f"phone (電話番号) is not a valid number: {raw}")
        if value not in phones:
            phones.append(value)
    for raw in row.get("email", []):
        value = email_or_none(reader.clean_text(raw))
        if value is None:
            raise ValueError(f"email (メール) is not a valid address: {raw}")
        if value not in emails:
            emails.append(value)
    fields["identities"] = [("phone", v) for v in phones] + [("email", v) for v in emails]
    if row.get("code"):
        fields["external_ref"] = f"code:{reader.clean_text(row['code'])}"[:160]
    elif not fields["identities"]:
        fields["external_ref"] = "row:" + _digest(name_key(name), fields.get("name_kana"), fields.get("address"),
                                                  fields.get("birthday"), fields.get("company"))
    return fields


def _apply_customers(batch, result: Result, state: dict) -> None:
    parsed = []
    for line, row in batch:
        try:
            parsed.append((line, _customer_fields(row)))
        except ValueError as error:
            result.error(line, str(error))
    values = {v for _, f in parsed for _, v in f["identities"]}
    refs = {f["external_ref"] for _, f in parsed if f.get("external_ref")}
    owner_of: dict[str, int] = {}
    if values:
        owner_of.update(db.session.execute(select(CustomerIdentity.value, CustomerIdentity.customer_id)
                                           .where(CustomerIdentity.value.in_(values))).all())
    by_ref: dict[str, int] = {}
    if refs:
        by_ref.update(db.session.execute(select(Customer.external_ref, Customer.id)
                                         .where(Customer.external_ref.in_(refs))).all())
    wanted_ids = set(owner_of.values()) | set(by_ref.values())
    # Identities come in one extra query, not one lazy load per matched customer.
    customers = {c.id: c for c in db.session.scalars(select(Customer).where(Customer.id.in_(wanted_ids))
                                                     .options(selectinload(Customer.identities)))} \
        if wanted_ids else {}
    pending: dict = {}  # identity value / ref → customer (existing or new) a row of this batch matched
    created: list[_NewCustomer] = []
    for line, fields in parsed:
        identities = fields.pop("identities")
        ref = fields.pop("external_ref", None)
        owners: dict = {}
        for kind, value in identities:
            target = pending.get(value) or customers.get(owner_of.get(value))
            if target is not None:
                owners.setdefault(id(target), (target, f"{kind} {value}"))
        if ref and (pending.get(ref) or customers.get(by_ref.get(ref))) is not None:
            target = pending.get(ref) or customers[by_ref[ref]]
            owners.setdefault(id(target), (target, ref))
        if len(owners) > 1:
            named = "; ".join(f"{what} belongs to customer {c.id or 'in this file'}" for c, what in owners.values())
            result.error(line, f"the row matches several customers: {named}")
            continue
        if owners:
            customer = next(iter(owners.values()))[0]
            if customer.merged_into_id is not None or customer.anonymized_at is not None:
                result.error(line, f"customer {customer.id} was merged or anonymised")
                continue
            changed = _update(customer, fields, identities, ref)
            if changed:
                result.updated += 1
            else:
                result.unchanged += 1
        else:
            customer = _NewCustomer(fields, identities, ref)
            created.append(customer)
            result.created += 1
        for _, value in identities:
            pending.setdefault(value, customer)
        if ref:
            pending.setdefault(ref, customer)
    db.session.flush()
    new_ids = _insert_new(created)
    app = current_app._get_current_object()
    for customer_id in new_ids:
        customer_created.send(app, customer_id=customer_id)


class _Identity:
    __slots__ = ("kind", "value")

    def __init__(self, kind: str, value: str):
        self.kind, self.value = kind, value


class _NewCustomer:
    """A customer this batch will create (inserted in bulk at the end of the batch; later
    rows of the same batch that match it update it here)."""

    id = None
    version = 1
    merged_into_id = anonymized_at = None

    def __init__(self, fields: dict, identities, ref):
        self.name = fields["name"]
        self.name_kana = fields.get("name_kana")
        self.company = fields.get("company")
        self.address = fields.get("address")
        self.birthday = fields.get("birthday")
        self.dm_opt_in = fields.get("dm_opt_in", False)
        self.tags = fields.get("tags", [])
        self.external_ref = ref
        self.identities = [_Identity(kind, value) for kind, value in identities]

    def row(self, now) -> dict:
        return {"name": self.name, "name_kana": self.name_kana, "company": self.company, "address": self.address,
                "birthday": self.birthday, "dm_opt_in": self.dm_opt_in, "tags": self.tags,
                "external_ref": self.external_ref, "name_key": name_key(self.name) or None,
                "sort_key": kana_key(self.name_kana) or name_key(self.name) or None, "rank_computed": "new",
                "frequency": 0, "monetary": 0, "ltv": 0, "version": 1, "created_at": now, "updated_at": now}


def _insert_new(created: list[_NewCustomer]) -> list[int]:
    """Bulk INSERT … RETURNING of the batch's new customers, then their identities."""
    if not created:
        return []
    now = utcnow()
    ids = list(db.session.scalars(insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
                                  [c.row(now) for c in created]))
    identities = [{"customer_id": cid, "kind": i.kind, "value": i.value, "created_at": now}
                  for cid, c in zip(ids, created, strict=True) for i in c.identities]
    if identities:
        db.session.execute(insert(CustomerIdentity), identities)
    return ids


def _update(customer: Customer, fields: dict, identities, ref) -> bool:
    """Fill the row's non-empty fields into an existing customer; True if anything changed."""
    changed = False
    for key, value in fields.items():
        if getattr(customer, key) != value:
            setattr(customer, key, value)
            changed = True
    have = {(i.kind, i.value) for i in customer.identities}
    for kind, value in identities:
        if (kind, value) not in have:
            maker = _Identity if isinstance(customer, _NewCustomer) else CustomerIdentity
            customer.identities.append(maker(kind=kind, value=value))
            changed = True
    if ref and customer.external_ref is None and ref.startswith("code:"):
        customer.external_ref = ref
        changed = True
    if changed and customer.id is not None:
        customer.version += 1
    return changed


# ---- purchases ----------------------------------------------------------------------

def _purchase_fields(row: dict) -> dict:
    if not row.get("product"):
        raise ValueError("product (商品名) is empty")
    quantity = 1
    if row.get("quantity") is not None:
        quantity = reader.parse_int(row["quantity"], "quantity")
        if quantity < 1:
            raise ValueError(f"quantity (数量) must be at least 1: {row['quantity']}")
    if row.get("amount") is not None:
        amount = reader.parse_int(row["amount"], "amount in yen")
    elif row.get("unit_price") is not None:
        amount = reader.parse_int(row["unit_price"], "unit price in yen") * quantity
    else:
        raise ValueError("amount (金額) is empty")
    if amount < 0:
        raise ValueError(f"amount (金額) is negative: {amount}")
    if row.get("purchased_at") is None:
        raise ValueError("purchased_at (購入日) is empty")
    try:
        when = reader.parse_datetime(row["purchased_at"])
    except ValueError as error:
        raise ValueError(f"purchased_at (購入日): {error}") from None
    customer: dict = {}
    if row.get("id") is not None:
        customer["id"] = reader.parse_int(row["id"], "customer id")
    if row.get("code"):
        customer["ref"] = f"code:{reader.clean_text(row['code'])}"
    for raw in row.get("phone", []):
        value = phone_or_none(reader.clean_text(raw))
        if value is None:
            raise ValueError(f"phone (電話番号) is not a valid number: {raw}")
        customer.setdefault("phone", value)
    for raw in row.get("email", []):
        value = email_or_none(reader.clean_text(raw))
        if value is None:
            raise ValueError(f"email (メール) is not a valid address: {raw}")
        customer.setdefault("email", value)
    if not customer:
        raise ValueError("no customer column (顧客ID/code, 電話番号/phone or メール/email)")
    product = reader.clean_text(row["product"])[:200]
    return {"product": product, "quantity": quantity, "amount": amount, "purchased_at": when.astimezone(UTC),
            "customer": customer, "name": reader.clean_text(row["name"]) if row.get("name") else None,
            "order_id": reader.clean_text(row["order_id"]) if row.get("order_id") else None}


def _apply_purchases(batch, result: Result, state: dict) -> None:
    parsed = []
    for line, row in batch:
        try:
            parsed.append((line, _purchase_fields(row)))
        except ValueError as error:
            result.error(line, str(error))
    ids = {f["customer"]["id"] for _, f in parsed if "id" in f["customer"]}
    refs = {f["customer"]["ref"] for _, f in parsed if "ref" in f["customer"]}
    values = {f["customer"][k] for _, f in parsed for k in ("phone", "email") if k in f["customer"]}
    active = (Customer.merged_into_id.is_(None),)
    known_ids = set(db.session.scalars(select(Customer.id).where(Customer.id.in_(ids), *active))) if ids else set()
    by_ref = dict(db.session.execute(select(Customer.external_ref, Customer.id)
                                     .where(Customer.external_ref.in_(refs), *active)).all()) if refs else {}
    by_value = dict(db.session.execute(select(CustomerIdentity.value, CustomerIdentity.customer_id)
                                       .where(CustomerIdentity.value.in_(values))).all()) if values else {}
    rows = []
    for line, fields in parsed:
        who = fields["customer"]
        customer_id = (who.get("id") if who.get("id") in known_ids else None) or by_ref.get(who.get("ref")) \
            or by_value.get(who.get("phone")) or by_value.get(who.get("email"))
        if customer_id is None and fields["name"] and ("phone" in who or "email" in who):
            from customers import service

            customer_id = service.resolve_contact(phone=who.get("phone"), email=who.get("email"),
                                                  name=fields["name"]).id
            for key in ("phone", "email"):
                if key in who:
                    by_value[who[key]] = customer_id
        if customer_id is None:
            described = ", ".join(f"{k} {v}" for k, v in who.items())
            result.error(line, f"no customer with {described}")
            continue
        when_key = fields["purchased_at"].isoformat()
        if fields["order_id"]:
            base = f"order:{fields['order_id'][:80]}:" + _digest(fields["product"], fields["quantity"],
                                                                  fields["amount"])[:12]
        else:
            base = "row:" + _digest(customer_id, when_key, fields["product"], fields["quantity"], fields["amount"])
        occurrence = state["occurrences"].get(base, 0) + 1
        state["occurrences"][base] = occurrence
        rows.append((line, customer_id, fields, f"{base}:{occurrence}"))
    if not rows:
        return
    seen = set(db.session.scalars(select(Purchase.external_ref)
                                  .where(Purchase.external_ref.in_([r[3] for r in rows]))))
    new = [r for r in rows if r[3] not in seen]
    result.skipped += len(rows) - len(new)
    if not new:
        return
    purchases = [Purchase(customer_id=cid, product=f["product"], quantity=f["quantity"], amount=f["amount"],
                          purchased_at=f["purchased_at"], external_ref=ref) for _, cid, f, ref in new]
    db.session.add_all(purchases)
    db.session.flush()
    db.session.execute(insert(Interaction), [
        {"customer_id": p.customer_id, "kind": "purchase", "occurred_at": p.purchased_at,
         "summary": purchase_summary(p), "ref": f"purchase:{p.id}",
         "detail": {"purchase_id": p.id, "amount": p.amount, "quantity": p.quantity}} for p in purchases])
    result.imported += len(new)


__all__ = ["ImportFileError", "KINDS", "run"]
