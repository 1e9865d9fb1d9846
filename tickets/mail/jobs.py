"""RQ entry points for mail: process a stored inbound mail, send a reply, sweep."""
from __future__ import annotations

from datetime import timedelta

from rq.job import Job, JobStatus
from sqlalchemy import select

from core.db import utcnow
from core.jobs import enqueue, job
from extensions import db
from tickets.mail import inbound, outbound
from tickets.models import InboundMail

# Jobs still to run or running; a stored mail whose job is in one of these is not lost.
_ALIVE = (JobStatus.QUEUED, JobStatus.STARTED, JobStatus.SCHEDULED, JobStatus.DEFERRED)


def inbound_job_id(inbound_id: int) -> str:
    """One job id per stored mail, so the sweep can tell a waiting job from a lost one."""
    return f"mail-in-{inbound_id}"


def enqueue_inbound(inbound_id: int, *, now: bool = False) -> None:
    enqueue("tickets.mail.jobs.process_inbound", inbound_id, job_id=inbound_job_id(inbound_id), now=now,
            meta={"kind": "mail_in"})


def _without_a_live_job(inbound_ids: list[int]) -> list[int]:
    """The mails whose job is gone (never enqueued, lost with Redis, failed for good):
    under a backlog most stored mails are simply waiting in the queue."""
    from core.redis_conn import get_redis

    jobs = Job.fetch_many([inbound_job_id(i) for i in inbound_ids], connection=get_redis())
    return [inbound_id for inbound_id, found in zip(inbound_ids, jobs, strict=True)
            if found is None or found.get_status(refresh=False) not in _ALIVE]


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
    stored = _without_a_live_job(list(db.session.scalars(select(InboundMail.id).where(
        InboundMail.status == "stored", InboundMail.received_at < cutoff).order_by(InboundMail.id).limit(500))))
    for inbound_id in stored:
        enqueue_inbound(inbound_id)
    replies = outbound.due_for_retry()
    for message_id in replies:
        enqueue("tickets.mail.jobs.send_reply", message_id, retry=0, meta={"kind": "mail_out"})
    return {"inbound": len(stored), "outbound": len(replies)}
