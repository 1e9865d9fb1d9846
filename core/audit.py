"""The audit log: who read or changed what personal data, and when (CONTRACT §8)."""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from core.db import Base, utcnow


class AuditEntry(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_customer_at", "customer_id", "at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(default=utcnow, index=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    actor_username: Mapped[str] = mapped_column(String(120))
    action: Mapped[str] = mapped_column(String(60), index=True)
    # No foreign key: the log outlives merged or anonymised customers.
    customer_id: Mapped[int | None] = mapped_column()
    detail: Mapped[dict] = mapped_column(default=dict)

    def to_dict(self) -> dict:
        return {"id": self.id, "at": self.at.isoformat(), "actor_id": self.actor_id,
                "actor_username": self.actor_username, "action": self.action,
                "customer_id": self.customer_id, "detail": self.detail}


def record(action: str, *, customer_id: int | None = None, detail: dict | None = None,
           actor=None) -> AuditEntry:
    """Add an audit row in the current transaction.  ``actor`` defaults to the logged-in
    user (or API token); jobs and the CLI pass ``None`` and are logged as ``system``."""
    from flask import has_request_context
    from flask_login import current_user

    from extensions import db

    if actor is None and has_request_context() and current_user.is_authenticated:
        actor = current_user
    entry = AuditEntry(
        actor_id=getattr(actor, "user_id", None) if actor is not None else None,
        actor_username=getattr(actor, "username", None) or "system",
        action=action, customer_id=customer_id, detail=detail or {},
    )
    db.session.add(entry)
    return entry
