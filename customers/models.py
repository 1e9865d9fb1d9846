"""Customers, their identities (phones, emails), purchases and the timeline."""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import ForeignKey, Index, String, Text, UniqueConstraint, event
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow
from customers.identity import kana_key, name_key

RANKS = ("platinum", "gold", "silver", "bronze", "new")


class Customer(Base):
    __tablename__ = "customers"
    __table_args__ = (
        # The customer list is sorted by furigana (then id) with keyset pages.
        Index("ix_customers_sort", "sort_key", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    name_kana: Mapped[str | None] = mapped_column(String(200), index=True)
    company: Mapped[str | None] = mapped_column(String(200))
    # Derived keys (set on every insert/update): the name without spaces or case, and the
    # furigana in katakana (else the name) for sorting and search.
    name_key: Mapped[str | None] = mapped_column(String(200), index=True)
    sort_key: Mapped[str | None] = mapped_column(String(200))
    # Import identity of a row without phone/email: the source's customer code, or a
    # digest of the row's personal fields (idempotent re-import).
    external_ref: Mapped[str | None] = mapped_column(String(160), unique=True)
    address: Mapped[str | None] = mapped_column(String(500))
    birthday: Mapped[date | None] = mapped_column()
    dm_opt_in: Mapped[bool] = mapped_column(default=False)
    tags: Mapped[list] = mapped_column(default=list)
    # RFM figures over the configured window and the rank they give (customers.rfm).
    rank_computed: Mapped[str] = mapped_column(String(10), default="new", index=True)
    rank_override: Mapped[str | None] = mapped_column(String(10))
    recency_days: Mapped[int | None] = mapped_column()
    last_purchase_at: Mapped[datetime | None] = mapped_column()
    frequency: Mapped[int] = mapped_column(default=0)
    monetary: Mapped[int] = mapped_column(default=0)
    r_score: Mapped[int | None] = mapped_column()
    f_score: Mapped[int | None] = mapped_column()
    m_score: Mapped[int | None] = mapped_column()
    ltv: Mapped[int] = mapped_column(default=0)
    last_contact_at: Mapped[datetime | None] = mapped_column()
    # A merged duplicate points at the survivor and answers 404 from then on.
    merged_into_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    anonymized_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)

    identities: Mapped[list[CustomerIdentity]] = relationship(
        back_populates="customer", order_by="CustomerIdentity.id", cascade="all, delete-orphan")

    @property
    def rank(self) -> str:
        """The rank in force: a supervisor's override wins over the computed one."""
        return self.rank_override or self.rank_computed or "new"

    @property
    def emails(self) -> list[str]:
        return [i.value for i in self.identities if i.kind == "email"]

    @property
    def phones(self) -> list[str]:
        return [i.value for i in self.identities if i.kind == "phone"]

    @property
    def is_active(self) -> bool:
        return self.merged_into_id is None


@event.listens_for(Customer, "before_insert")
@event.listens_for(Customer, "before_update")
def _derive_keys(_mapper, _connection, customer: Customer) -> None:
    customer.name_key = name_key(customer.name) or None
    customer.sort_key = kana_key(customer.name_kana) or customer.name_key


class CustomerIdentity(Base):
    """A phone (E.164) or email (case-folded) that identifies exactly one customer."""

    __tablename__ = "customer_identities"
    __table_args__ = (UniqueConstraint("kind", "value", name="uq_customer_identities_kind_value"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # phone | email
    value: Mapped[str] = mapped_column(String(320))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    customer: Mapped[Customer] = relationship(back_populates="identities")


class Purchase(Base):
    __tablename__ = "purchases"
    __table_args__ = (Index("ix_purchases_customer_at", "customer_id", "purchased_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    product: Mapped[str] = mapped_column(String(200))
    quantity: Mapped[int] = mapped_column(default=1)
    amount: Mapped[int] = mapped_column()  # line total, integer yen
    purchased_at: Mapped[datetime] = mapped_column(index=True)
    # Idempotency key of an imported row (file digest + line, or the source's order id).
    external_ref: Mapped[str | None] = mapped_column(String(160), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Interaction(Base):
    """The append-only timeline: every call, mail, reply, note, status change, purchase,
    merge… of a customer.  Written only through ``customers.timeline.record``."""

    __tablename__ = "interactions"
    __table_args__ = (
        # First page of any customer's timeline is one index range scan.
        Index("ix_interactions_timeline", "customer_id", "occurred_at", "id"),
        # An operator's own latest contacts (console home) likewise.
        Index("ix_interactions_operator", "operator_id", "occurred_at", "id"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="CASCADE"))
    kind: Mapped[str] = mapped_column(String(20))
    channel: Mapped[str | None] = mapped_column(String(20))
    direction: Mapped[str | None] = mapped_column(String(10))
    occurred_at: Mapped[datetime] = mapped_column(default=utcnow)
    summary: Mapped[str] = mapped_column(String(500), default="")
    body: Mapped[str | None] = mapped_column(Text)
    ticket_id: Mapped[int | None] = mapped_column(index=True)  # no FK: tickets sit above customers
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Idempotency key (e.g. "call:<callId>:hangup", "purchase:<id>"): one item per key.
    ref: Mapped[str | None] = mapped_column(String(200), unique=True)
    detail: Mapped[dict] = mapped_column(default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
