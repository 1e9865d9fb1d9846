"""Models of the tickets package: tickets, messages, attachments, the raw inbound mail
store, macros, SLA policies and business calendars."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import Base, utcnow

STATUSES = ("new", "open", "pending", "on_hold", "solved", "closed")
PRIORITIES = ("low", "normal", "high", "urgent")
CHANNELS = ("phone", "email", "web", "chat")
MESSAGE_KINDS = ("inbound", "reply", "note")
DELIVERIES = ("queued", "sending", "sent", "failed", "not_sent")
# Statuses in which a ticket counts against the SLA clocks (pending pauses them).
ACTIVE = ("new", "open", "on_hold")


class Ticket(Base):
    __tablename__ = "tickets"
    __table_args__ = (
        # The operator's lists: "mine, open" and "unassigned" are one index range each,
        # already in id order (keyset pages newest first).
        Index("ix_tickets_assignee_status_id", "assignee_id", "status", "id"),
        Index("ix_tickets_status_id", "status", "id"),
        Index("ix_tickets_customer_id_id", "customer_id", "id"),
        Index("ix_tickets_rank_status_id", "rank", "status", "id"),
        # The SLA sweep looks only at tickets whose clocks run.
        Index("ix_tickets_status_first_due", "status", "first_response_due_at"),
        Index("ix_tickets_status_resolution_due", "status", "resolution_due_at"),
        Index("ix_tickets_status_solved_at", "status", "solved_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    subject: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(10), default="new")
    priority: Mapped[str] = mapped_column(String(10), default="normal")
    channel: Mapped[str] = mapped_column(String(10))
    customer_id: Mapped[int] = mapped_column(ForeignKey("customers.id", ondelete="RESTRICT"))
    assignee_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # The customer's rank when the ticket was created (SLA targets and routing use it).
    rank: Mapped[str] = mapped_column(String(10), default="new")
    tags: Mapped[list] = mapped_column(default=list)
    version: Mapped[int] = mapped_column(default=1)
    # SLA: due times in business time, when they were met, breach and warning flags.
    first_response_due_at: Mapped[datetime | None] = mapped_column()
    resolution_due_at: Mapped[datetime | None] = mapped_column()
    first_responded_at: Mapped[datetime | None] = mapped_column()
    first_response_breached: Mapped[bool] = mapped_column(default=False)
    resolution_breached: Mapped[bool] = mapped_column(default=False)
    first_response_warned: Mapped[bool] = mapped_column(default=False)
    resolution_warned: Mapped[bool] = mapped_column(default=False)
    # Set while pending: the clocks stop and resume with the business time left.
    sla_paused_at: Mapped[datetime | None] = mapped_column()
    sla_paused_business_s: Mapped[int] = mapped_column(default=0)
    # When the ticket started waiting for an operator: created, reopened, returned to queue.
    waiting_since: Mapped[datetime | None] = mapped_column()
    # A customer's answer to a closed ticket opens a new one that links to it.
    linked_ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    created_by_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    solved_at: Mapped[datetime | None] = mapped_column()
    closed_at: Mapped[datetime | None] = mapped_column()
    last_message_at: Mapped[datetime | None] = mapped_column()
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)

    messages: Mapped[list[Message]] = relationship(back_populates="ticket", order_by="Message.id",
                                                   cascade="all, delete-orphan")

    @property
    def breached(self) -> bool:
        return bool(self.first_response_breached or self.resolution_breached)


class Message(Base):
    __tablename__ = "ticket_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(10))  # inbound | reply | note
    body: Mapped[str] = mapped_column(Text, default="")  # plain text (or Markdown source of a reply)
    html: Mapped[str] = mapped_column(Text, default="")  # sanitised by core.sanitize, never raw
    author_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    from_address: Mapped[str | None] = mapped_column(String(320))
    from_name: Mapped[str | None] = mapped_column(String(200))
    to_address: Mapped[str | None] = mapped_column(String(320))
    subject: Mapped[str | None] = mapped_column(String(500))
    # The charset the customer's mail came in (replies use ISO-2022-JP when they did).
    charset: Mapped[str | None] = mapped_column(String(40))
    # RFC 5322 threading: ours for replies, the sender's for inbound mail.
    message_id: Mapped[str | None] = mapped_column(String(500), unique=True)
    in_reply_to: Mapped[str | None] = mapped_column(String(500))
    references: Mapped[str | None] = mapped_column(Text)
    # Outbound replies: queued → sending → sent | failed (retried) ; not_sent without SMTP_URL.
    delivery: Mapped[str | None] = mapped_column(String(10))
    attempts: Mapped[int] = mapped_column(default=0)
    last_error: Mapped[str | None] = mapped_column(String(500))
    next_attempt_at: Mapped[datetime | None] = mapped_column()
    sending_since: Mapped[datetime | None] = mapped_column()
    sent_at: Mapped[datetime | None] = mapped_column()
    # An auto-reply or bounce threaded onto a ticket (shown, never reopens anything).
    automated: Mapped[bool] = mapped_column(default=False)
    inbound_mail_id: Mapped[int | None] = mapped_column(ForeignKey("inbound_mails.id", ondelete="SET NULL"))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)

    ticket: Mapped[Ticket] = relationship(back_populates="messages")
    attachments: Mapped[list[Attachment]] = relationship(order_by="Attachment.id", cascade="all, delete-orphan",
                                                         lazy="selectin")


Index("ix_ticket_messages_delivery", Message.delivery, Message.next_attempt_at)


class Attachment(Base):
    """A file that came with a mail.  Content over the size limit is listed, not kept."""

    __tablename__ = "ticket_attachments"

    id: Mapped[int] = mapped_column(primary_key=True)
    message_id: Mapped[int] = mapped_column(ForeignKey("ticket_messages.id", ondelete="CASCADE"), index=True)
    filename: Mapped[str] = mapped_column(String(255))
    content_type: Mapped[str] = mapped_column(String(120))
    size: Mapped[int] = mapped_column()
    content_id: Mapped[str | None] = mapped_column(String(255))
    data: Mapped[bytes | None] = mapped_column(LargeBinary, deferred=True)
    omitted: Mapped[bool] = mapped_column(default=False)  # too large: listed, content dropped
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InboundMail(Base):
    """The raw message as the SMTP listener received it, committed before the 250 reply.
    Parsing and ticket creation happen later in a job (idempotent by this row)."""

    __tablename__ = "inbound_mails"
    __table_args__ = (Index("ix_inbound_mails_status_received", "status", "received_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    # The Message-ID (or a digest of the raw bytes when there is none): one row per mail.
    message_key: Mapped[str] = mapped_column(String(500), unique=True)
    mail_from: Mapped[str] = mapped_column(String(320), default="")
    rcpt_to: Mapped[list] = mapped_column(default=list)
    size: Mapped[int] = mapped_column()
    raw: Mapped[bytes] = mapped_column(LargeBinary, deferred=True)
    # stored → processed | ignored (auto-reply/bounce not threaded) | failed (gave up)
    status: Mapped[str] = mapped_column(String(10), default="stored")
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(500))
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"))
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
    processed_at: Mapped[datetime | None] = mapped_column()


class Macro(Base):
    """A canned response: body with placeholders, and optional status/tag changes.
    ``owner_id`` None is shared with everyone; otherwise personal."""

    __tablename__ = "ticket_macros"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(120))
    body: Mapped[str] = mapped_column(Text, default="")
    kind: Mapped[str] = mapped_column(String(10), default="reply")  # reply | note
    set_status: Mapped[str | None] = mapped_column(String(10))
    set_priority: Mapped[str | None] = mapped_column(String(10))
    add_tags: Mapped[list] = mapped_column(default=list)
    owner_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    version: Mapped[int] = mapped_column(default=1)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)


class SlaPolicy(Base):
    """A target per rank × priority, in business minutes (defaults live in tickets.sla)."""

    __tablename__ = "sla_policies"
    __table_args__ = (UniqueConstraint("rank", "priority", name="uq_sla_policies_rank_priority"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    rank: Mapped[str] = mapped_column(String(10))
    priority: Mapped[str] = mapped_column(String(10))
    first_response_minutes: Mapped[int] = mapped_column()
    resolution_minutes: Mapped[int] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)


class BusinessCalendar(Base):
    """Opening hours per weekday in a time zone, with a country's public holidays and
    extra closed days.  One row named ``default`` (absent: Mon–Fri 9–18 Asia/Tokyo, JP)."""

    __tablename__ = "business_calendars"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(60), unique=True)
    timezone: Mapped[str] = mapped_column(String(60), default="Asia/Tokyo")
    # {"0": [["09:00", "18:00"]], …, "6": []} — Monday is 0.
    hours: Mapped[dict] = mapped_column(default=dict)
    holiday_country: Mapped[str | None] = mapped_column(String(8), default="JP")
    closed_dates: Mapped[list] = mapped_column(default=list)  # ["2026-12-29", …]
    version: Mapped[int] = mapped_column(default=1)
