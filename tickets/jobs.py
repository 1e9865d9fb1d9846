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
    first = db.session.scalars(select(Ticket).where(
        Ticket.status.in_(ACTIVE), Ticket.first_responded_at.is_(None), Ticket.first_response_due_at <= soon,
        or_(Ticket.first_response_warned.is_(False),
            and_(Ticket.first_response_breached.is_(False), Ticket.first_response_due_at <= now)))
        .order_by(Ticket.first_response_due_at).limit(BATCH)).all()
    for ticket in first:
        if ticket.first_response_due_at <= now:
            ticket.first_response_breached = ticket.first_response_warned = True
            counts["breached"] += 1
            _warn(ticket, "first_response", ticket.first_response_due_at, True)
        elif not ticket.first_response_warned:
            ticket.first_response_warned = True
            counts["warned"] += 1
            _warn(ticket, "first_response", ticket.first_response_due_at, False)
    resolution = db.session.scalars(select(Ticket).where(
        Ticket.status.in_(ACTIVE), Ticket.resolution_due_at <= soon,
        or_(Ticket.resolution_warned.is_(False),
            and_(Ticket.resolution_breached.is_(False), Ticket.resolution_due_at <= now)))
        .order_by(Ticket.resolution_due_at).limit(BATCH)).all()
    for ticket in resolution:
        if ticket.resolution_due_at <= now:
            ticket.resolution_breached = ticket.resolution_warned = True
            counts["breached"] += 1
            _warn(ticket, "resolution", ticket.resolution_due_at, True)
        elif not ticket.resolution_warned:
            ticket.resolution_warned = True
            counts["warned"] += 1
            _warn(ticket, "resolution", ticket.resolution_due_at, False)
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
