"""Routing state per operator."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow

PRESENCES = ("available", "busy", "away", "wrap_up", "offline")


class OperatorState(Base):
    """An operator's presence; one row per user, created on first use."""

    __tablename__ = "operator_states"

    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), primary_key=True)
    presence: Mapped[str] = mapped_column(String(12), default="offline")
    presence_since: Mapped[datetime] = mapped_column(default=utcnow)
    # When the operator's last console connection closed (None while connected).
    disconnected_at: Mapped[datetime | None] = mapped_column()
    # When the operator last had no work (longest idle first).
    idle_since: Mapped[datetime] = mapped_column(default=utcnow)
    version: Mapped[int] = mapped_column(default=1)
