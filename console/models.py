"""Calls from the PBX (the caller log) and blocked numbers."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class Call(Base):
    """One PBX call, keyed by its ``callId``; events are idempotent and order-tolerant."""

    __tablename__ = "calls"
    __table_args__ = (Index("ix_calls_missed_done", "missed", "done", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[str] = mapped_column(String(200), unique=True)
    direction: Mapped[str] = mapped_column(String(3))  # in | out
    from_number: Mapped[str] = mapped_column(String(80), default="")
    to_number: Mapped[str] = mapped_column(String(80), default="")
    caller: Mapped[str | None] = mapped_column(String(32))  # E.164 of the other party, None if anonymous
    customer_id: Mapped[int | None] = mapped_column(ForeignKey("customers.id", ondelete="SET NULL"), index=True)
    ticket_id: Mapped[int | None] = mapped_column(ForeignKey("tickets.id", ondelete="SET NULL"), index=True)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    state: Mapped[str] = mapped_column(String(10), default="newCall")  # newCall | answer | hangup
    decision: Mapped[str | None] = mapped_column(String(10))  # dial | queue | reject
    cause: Mapped[str | None] = mapped_column(String(40))
    queue: Mapped[str | None] = mapped_column(String(80))
    voicemail: Mapped[bool] = mapped_column(default=False)
    blocked: Mapped[bool] = mapped_column(default=False)
    missed: Mapped[bool] = mapped_column(default=False)
    done: Mapped[bool] = mapped_column(default=True)
    done_by: Mapped[int | None] = mapped_column()
    initialized_at: Mapped[datetime] = mapped_column(default=utcnow)
    start_at: Mapped[datetime | None] = mapped_column()
    end_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)


class BlockedNumber(Base):
    """Calls from these numbers are rejected (``{"action": "reject", "reason": "busy"}``)."""

    __tablename__ = "blocked_numbers"

    id: Mapped[int] = mapped_column(primary_key=True)
    number: Mapped[str] = mapped_column(String(32), unique=True)  # E.164
    note: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    created_by: Mapped[int | None] = mapped_column()
