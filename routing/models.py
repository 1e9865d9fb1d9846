"""Routing state per operator."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

PRESENCES = ("available", "busy", "away", "wrap_up", "offline")


class OperatorState(Base):
    """An operator's presence; one row per user, created on first use."""

    __tablename__ = "operator_states"
    # Routing's candidates: available operators, fewest open items first, then longest idle.
    __table_args__ = (Index("ix_operator_states_by_load", "presence", "load_total", "idle_since", "user_id"),)

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    presence: Mapped[str] = mapped_column(String(12), default="offline")
    presence_since: Mapped[datetime] = mapped_column(default=utcnow)
    # When the operator's last console connection closed (None while connected).
    disconnected_at: Mapped[datetime | None] = mapped_column()
    # When the operator last had no work (longest idle first).
    idle_since: Mapped[datetime] = mapped_column(default=utcnow)
    # End of the current wrap-up (after a call), when presence returns to available.
    wrap_up_until: Mapped[datetime | None] = mapped_column()
    # Items held now (offered or assigned), per channel and in all: kept by routing.engine
    # in the same transactions that move work items, so a claim checks capacity and locks
    # the operator in one statement and candidates are one indexed read.
    load_phone: Mapped[int] = mapped_column(default=0, server_default="0")
    load_email: Mapped[int] = mapped_column(default=0, server_default="0")
    load_web: Mapped[int] = mapped_column(default=0, server_default="0")
    load_chat: Mapped[int] = mapped_column(default=0, server_default="0")
    load_total: Mapped[int] = mapped_column(default=0, server_default="0")
    version: Mapped[int] = mapped_column(default=1)


class WorkItem(Base):
    """A routable ticket: waiting, offered to one operator, assigned, or done.

    Capacity is counted from these rows: an operator's items of a channel in state
    ``offered`` or ``assigned``.  ``priority_order`` and ``rank_order`` are the sort keys of
    the service order (urgent before low, platinum before new) so the queue is one index scan.
    """

    __tablename__ = "work_items"
    __table_args__ = (
        Index("ix_work_items_queue", "state", "channel", "priority_order", "rank_order", "waiting_since"),
        Index("ix_work_items_holder", "operator_id", "state", "channel"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    ticket_id: Mapped[int] = mapped_column(ForeignKey("tickets.id", ondelete="CASCADE"), unique=True)
    channel: Mapped[str] = mapped_column(String(10))
    rank: Mapped[str] = mapped_column(String(10))
    priority: Mapped[str] = mapped_column(String(10))
    rank_order: Mapped[int] = mapped_column()
    priority_order: Mapped[int] = mapped_column()
    skills: Mapped[list] = mapped_column(default=list)
    state: Mapped[str] = mapped_column(String(10), default="waiting")  # waiting|offered|assigned|done
    waiting_since: Mapped[datetime] = mapped_column(default=utcnow)
    operator_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    assigned_at: Mapped[datetime | None] = mapped_column()
    done_at: Mapped[datetime | None] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)


class Offer(Base):
    """A reservation of a work item for one operator: accepted, rejected, or timed out."""

    __tablename__ = "offers"
    __table_args__ = (Index("ix_offers_operator_state", "operator_id", "state"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    work_item_id: Mapped[int] = mapped_column(ForeignKey("work_items.id", ondelete="CASCADE"), index=True)
    ticket_id: Mapped[int] = mapped_column(index=True)
    operator_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    channel: Mapped[str] = mapped_column(String(10))
    state: Mapped[str] = mapped_column(String(10), default="pending")  # pending|accepted|rejected|expired|revoked
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column()
    decided_at: Mapped[datetime | None] = mapped_column()
    reason: Mapped[str | None] = mapped_column(String(40))


class RoutingEvent(Base):
    """What routing did and why: offers, accepts, rejects, time-outs, assignments, escalations."""

    __tablename__ = "routing_events"
    # By kind and time: the service level counts the last hour's assignments.
    __table_args__ = (Index("ix_routing_events_at", "at"), Index("ix_routing_events_kind_at", "kind", "at"))

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow)
    kind: Mapped[str] = mapped_column(String(20))
    work_item_id: Mapped[int | None] = mapped_column(index=True)
    ticket_id: Mapped[int | None] = mapped_column(index=True)
    operator_id: Mapped[int | None] = mapped_column()
    actor_id: Mapped[int | None] = mapped_column()
    detail: Mapped[dict] = mapped_column(default=dict)


class RoutingPolicyRow(Base):
    """The routing policy document in force (one row), versioned."""

    __tablename__ = "routing_policy"

    id: Mapped[int] = mapped_column(primary_key=True)
    document: Mapped[dict] = mapped_column()
    version: Mapped[int] = mapped_column(default=1)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_by: Mapped[int | None] = mapped_column()
