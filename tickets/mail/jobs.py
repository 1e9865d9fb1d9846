"""RQ entry points for mail: process a stored inbound mail, send a reply, sweep."""
from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from core.db import utcnow
from core.jobs import enqueue, job
from extensions import db
from tickets.mail import inbound, outbound
from tickets.models import InboundMail


@job
def process_inbound(inbound_id: int) -> dict:
    """Parse a stored mail into a ticket or a message (idempotent: claimed once)."""
    try:
        return inbound.process(inbound_id)
    except Exception as error:
        db.session.rollback()
        if inbound.record_failure(inbound_id, error):
            return {"status": "failed", "error": str(error)[:200]}
        raise  # RQ retries; the sweep re-enqueues later


@job
def send_reply(message_id: int) -> str:
    """Send one reply by SMTP (never twice; failures retried with back-off)."""
    return outbound.deliver(message_id)


@job
def sweep() -> dict:
    """Periodic: stored-but-unprocessed mail (e.g. the listener or Redis died after the
    250) and replies whose (re)try is due are enqueued again."""
    cutoff = utcnow() - timedelta(seconds=30)
    stored = list(db.session.scalars(select(InboundMail.id).where(
        InboundMail.status == "stored", InboundMail.received_at < cutoff).order_by(InboundMail.id).limit(500)))
    for inbound_id in stored:
        enqueue("tickets.mail.jobs.process_inbound", inbound_id, meta={"kind": "mail_in"})
    replies = outbound.due_for_retry()
    for message_id in replies:
        enqueue("tickets.mail.jobs.send_reply", message_id, retry=0, meta={"kind": "mail_out"})
    return {"inbound": len(stored), "outbound": len(replies)}
