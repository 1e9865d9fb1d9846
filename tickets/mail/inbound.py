"""Inbound mail: the durable raw store (before SMTP 250) and its processing into tickets.

Threading order (CONTRACT §5): ``In-Reply-To``, then ``References`` newest first, then
``[#ID]`` in the subject, then a ``support+t<ID>@`` recipient (our Reply-To); otherwise a
new ticket.  A customer's answer reopens a solved or pending ticket; an answer to a
closed ticket opens a new ticket linked to it.  Auto-replies and bounces are kept on the
ticket they answer (never reopening it) or ignored — they never create tickets, so two
autoresponders can never loop through us.
"""
from __future__ import annotations

import hashlib
import logging
import re
from email import policy
from email.parser import BytesHeaderParser

from flask import current_app
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from core.db import utcnow
from core.sanitize import clean_mail_html
from customers import service as customers
from extensions import db
from tickets import service
from tickets.mail.parse import ParsedMail, normalise_message_id, parse
from tickets.models import Attachment, InboundMail, Message, Ticket

log = logging.getLogger(__name__)
_SUBJECT_TAG = re.compile(r"\[#(\d{1,10})\]")
_PLUS_TAG = re.compile(r"\+t(\d{1,10})@", re.I)
MAX_ATTACHMENTS = 50
MAX_ATTEMPTS = 5


def message_key(raw: bytes) -> str:
    """The Message-ID (one stored row per mail), or a digest of the bytes without one."""
    try:
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        found = normalise_message_id(str(headers.get("Message-ID") or ""))
    except Exception:  # a header the policy refuses: fall back to the digest
        found = None
    return found or f"<sha256.{hashlib.sha256(raw).hexdigest()}@tsunagu.invalid>"


def store(raw: bytes, mail_from: str, rcpt_tos: list[str]) -> tuple[int, bool]:
    """Commit the raw message and enqueue its processing; ``(id, created)``.  The same
    Message-ID again is not stored twice (the existing row's id is returned)."""
    key = message_key(raw)
    row = InboundMail(message_key=key, mail_from=(mail_from or "")[:320], rcpt_to=list(rcpt_tos or [])[:100],
                      size=len(raw), raw=raw, status="stored", received_at=utcnow())
    db.session.add(row)
    try:
        db.session.commit()
    except IntegrityError:
        db.session.rollback()
        existing = db.session.scalar(select(InboundMail.id).where(InboundMail.message_key == key))
        if existing is None:
            raise
        return existing, False
    try:
        from tickets.mail.jobs import enqueue_inbound

        enqueue_inbound(row.id, now=True)
    except Exception:  # stored is what counts: the periodic sweep enqueues it later
        log.warning("could not enqueue inbound mail %s; the sweep will pick it up", row.id, exc_info=True)
    return row.id, True


def _claim(inbound_id: int) -> bool:
    """Take the row for processing — the transaction's first statement, so of two
    workers only one sees ``stored`` (the other waits for the lock and finds it done)."""
    result = db.session.execute(
        update(InboundMail).where(InboundMail.id == inbound_id, InboundMail.status == "stored")
        .values(status="processed", processed_at=utcnow()), execution_options={"synchronize_session": False})
    return result.rowcount == 1


def process(inbound_id: int) -> dict:
    """Turn a stored mail into a ticket or a message on one (idempotent)."""
    if not _claim(inbound_id):
        found = db.session.get(InboundMail, inbound_id)
        return {"status": found.status if found else "missing", "ticket_id": found.ticket_id if found else None}
    row = db.session.get(InboundMail, inbound_id)
    db.session.refresh(row)
    domain = current_app.config["MAIL_DOMAIN"]
    parsed = parse(row.raw, envelope_from=row.mail_from, own_domain=domain)
    ticket = find_thread(parsed, row.rcpt_to)
    now = utcnow()
    if parsed.automated:
        if ticket is None or ticket.status == "closed":
            row.status, row.error = "ignored", parsed.automated[:500]
            return {"status": "ignored", "ticket_id": None, "reason": parsed.automated}
        _add_message(ticket, parsed, row, now, automated=True)
        row.ticket_id = ticket.id
        return {"status": "processed", "ticket_id": ticket.id, "automated": True}
    if ticket is None:
        ticket = service.open_ticket(_sender(parsed), subject=parsed.subject, channel="email", now=now)
        _add_message(ticket, parsed, row, now, new_ticket=True)
    elif ticket.status == "closed":
        customer = _sender(parsed) if parsed.from_address else customers.get(ticket.customer_id)
        linked = service.open_ticket(customer, subject=parsed.subject or ticket.subject, channel="email",
                                     linked_ticket_id=ticket.id, now=now)
        ticket = linked
        _add_message(ticket, parsed, row, now, new_ticket=True)
    else:
        before = ticket.status
        reopened = service.reopen_by_customer(ticket, now)
        _add_message(ticket, parsed, row, now)
        service._changed(ticket, {"message": [None, "inbound"]} | (
            {"status": [before, ticket.status]} if reopened else {}))
        if reopened:
            service._needs_routing(ticket, "reopened")
    row.ticket_id = ticket.id
    return {"status": "processed", "ticket_id": ticket.id}


def record_failure(inbound_id: int, error: Exception) -> bool:
    """After a failed attempt (rolled back): count it; gives up after MAX_ATTEMPTS.
    Returns True when the mail is given up (status ``failed``)."""
    row = db.session.get(InboundMail, inbound_id)
    if row is None:
        return True
    row.attempts += 1
    row.error = f"{type(error).__name__}: {error}"[:500]
    if row.attempts >= MAX_ATTEMPTS:
        row.status = "failed"
    db.session.commit()
    return row.status == "failed"


def _sender(parsed: ParsedMail):
    customer = customers.resolve_contact(email=parsed.from_address or None, name=parsed.from_name or None,
                                         create_missing=True)
    if customer is None:
        customer = customers.resolve_contact(name="(unknown sender)", create_missing=True)
    return customer


def find_thread(parsed: ParsedMail, rcpt_tos: list[str]) -> Ticket | None:
    """The ticket this mail answers, or None."""
    ids = list(dict.fromkeys(parsed.in_reply_to + list(reversed(parsed.references))))
    if ids:
        rows = dict(db.session.execute(select(Message.message_id, Message.ticket_id)
                                       .where(Message.message_id.in_(ids))).all())
        for candidate in ids:  # In-Reply-To first, then References newest first
            if candidate in rows:
                return db.session.get(Ticket, rows[candidate])
    tag = _SUBJECT_TAG.search(parsed.subject or "")
    if tag:
        ticket = db.session.get(Ticket, int(tag.group(1)))
        if ticket is not None:
            return ticket
    for address in rcpt_tos or []:
        plus = _PLUS_TAG.search(address)
        if plus:
            ticket = db.session.get(Ticket, int(plus.group(1)))
            if ticket is not None:
                return ticket
    return None


def _add_message(ticket: Ticket, parsed: ParsedMail, row: InboundMail, now, *, new_ticket: bool = False,
                 automated: bool = False) -> Message:
    message_id = parsed.message_id
    if message_id and db.session.scalar(select(Message.id).where(Message.message_id == message_id)):
        message_id = None  # already on a message (e.g. our own reply echoed back): keep the row unique
    html = clean_mail_html(parsed.html) if parsed.html else None
    message = service.add_inbound(
        ticket, body=parsed.text, html=html, announce=not new_ticket, now=now,
        from_address=(parsed.from_address or None) and parsed.from_address[:320],
        from_name=(parsed.from_name or None) and parsed.from_name[:200],
        to_address=", ".join(parsed.to)[:320] or None, subject=parsed.subject[:500] or None,
        charset=(parsed.charset or None) and parsed.charset[:40], message_id=message_id,
        in_reply_to=parsed.in_reply_to[0] if parsed.in_reply_to else None,
        references=" ".join(parsed.references) or None, automated=automated, inbound_mail_id=row.id)
    limit = int(current_app.config.get("MAIL_ATTACHMENT_MAX_BYTES", 10 * 1024 * 1024))
    for attachment in parsed.attachments[:MAX_ATTACHMENTS]:
        too_big = len(attachment.data) > limit
        message.attachments.append(Attachment(
            filename=attachment.filename, content_type=attachment.content_type, size=len(attachment.data),
            content_id=attachment.content_id, data=None if too_big else attachment.data, omitted=too_big))
    db.session.flush()
    return message
