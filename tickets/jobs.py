"""RQ entry points for tickets: the SLA sweep and the auto-close of solved tickets."""
from __future__ import annotations

from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import and_, or_, select

from core.db import utcnow
from core.jobs import job
from core.realtime import SUPERVISORS, push, ticket_room, user_room
from extensions import db
from tickets import service
from tickets.models import ACTIVE, Ticket

BATCH = 500


def _warn(ticket: Ticket, kind: str, due: datetime, breached: bool) -> None:
    event = {"ticket_id": ticket.id, "kind": kind, "due_at": due.isoformat(), "breached": breached,
             "subject": ticket.subject, "rank": ticket.rank, "priority": ticket.priority}
    push("sla_warning", event, SUPERVISORS)
    if ticket.assignee_id:
        push("sla_warning", event, user_room(ticket.assignee_id))
    push("ticket_updated", {"ticket_id": ticket.id, "version": ticket.version}, ticket_room(ticket.id))


def check_sla(now: datetime | None = None) -> dict:
    """Warn before a due time (``SLA_WARN_BEFORE_S``, default 15 min) and mark breaches
    at it, once each; only tickets whose clocks run (pending pauses them)."""
    now = now or utcnow()
    soon = now + timedelta(seconds=int(current_app.config.get("SLA_WARN_BEFORE_S", 900)))
    counts = {"warned": 0, "breached": 0}
    # The two clocks (first response, resolution) follow the same rule on their own columns.
    clocks = (("first_response", Ticket.first_responded_at.is_(None)), ("resolution", None))
    for kind, still_running in clocks:
        due = getattr(Ticket, f"{kind}_due_at")
        warned, breached = getattr(Ticket, f"{kind}_warned"), getattr(Ticket, f"{kind}_breached")
        conditions = [Ticket.status.in_(ACTIVE), due <= soon,
                      or_(warned.is_(False), and_(breached.is_(False), due <= now))]
        if still_running is not None:
            conditions.append(still_running)
        tickets = db.session.scalars(select(Ticket).where(*conditions).order_by(due).limit(BATCH)).all()
        for ticket in tickets:
            due_at = getattr(ticket, f"{kind}_due_at")
            if due_at <= now:
                setattr(ticket, f"{kind}_breached", True)
                setattr(ticket, f"{kind}_warned", True)
                counts["breached"] += 1
                _warn(ticket, kind, due_at, True)
            elif not getattr(ticket, f"{kind}_warned"):
                setattr(ticket, f"{kind}_warned", True)
                counts["warned"] += 1
                _warn(ticket, kind, due_at, False)
    return counts


def close_solved(now: datetime | None = None) -> list[int]:
    """Solved tickets untouched for ``TICKETS_AUTOCLOSE_S`` (default 4 days) close."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=int(current_app.config.get("TICKETS_AUTOCLOSE_S", 4 * 86400)))
    rows = db.session.scalars(select(Ticket).where(Ticket.status == "solved", Ticket.solved_at < cutoff)
                              .order_by(Ticket.solved_at).limit(BATCH)).all()
    for ticket in rows:
        service.change_status(ticket, "closed", None, now=now)
        service._touch(ticket, now)
        service._changed(ticket, {"status": ["solved", "closed"]})
        service._announce(ticket)
    return [t.id for t in rows]


@job
def sla_sweep() -> dict:
    """Periodic: SLA warnings and breaches, then the auto-close of solved tickets."""
    result = check_sla()
    result["closed"] = len(close_solved())
    return result
