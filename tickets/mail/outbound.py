"""Outbound replies: addressing and threading when the reply is written (``prepare``),
then MIME composition and SMTP delivery in a job (``deliver``).

A reply is never sent twice: a worker claims it (``queued``/retrying ``failed`` →
``sending``) in its own committed transaction before talking SMTP, so a retried or
duplicated job finds it claimed or ``sent`` and does nothing.
"""
from __future__ import annotations

import re
import smtplib
import uuid
from datetime import timedelta
from email.header import Header
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText
from email.utils import format_datetime, formataddr
from urllib.parse import unquote, urlsplit

from flask import current_app
from sqlalchemy import and_, or_, select, update

from core.db import utcnow
from core.realtime import push, ticket_room
from extensions import db
from tickets.models import Message, Ticket

BACKOFF_S = (30, 120, 600, 1800, 3600, 7200)  # then give up (shown as failed)
STALE_SENDING = timedelta(minutes=10)  # a worker that died mid-send
_TAG = re.compile(r"\s*\[#\d+\]\s*")
_RE = re.compile(r"^\s*((re|fwd?|aw|sv|返信|転送)\s*[:：]\s*)+", re.I)


def support_address() -> str:
    return f"support@{current_app.config['MAIL_DOMAIN']}"


def reply_subject(ticket: Ticket) -> str:
    base = _RE.sub("", _TAG.sub(" ", ticket.subject or "")).strip() or "(no subject)"
    return f"Re: {base} [#{ticket.id}]"


def new_message_id(ticket_id: int) -> str:
    return f"<t{ticket_id}.{uuid.uuid4().hex}@{current_app.config['MAIL_DOMAIN']}>"


def prepare(ticket: Ticket, message: Message) -> None:
    """Address and thread a reply; ``queued`` for the job, ``not_sent`` when it cannot go."""
    message.message_id = new_message_id(ticket.id)
    if ticket.channel != "email":
        return  # a reply on a phone/web/chat ticket is recorded, not mailed
    from customers.models import Customer

    message.subject = reply_subject(ticket)
    earlier = db.session.scalars(select(Message).where(Message.ticket_id == ticket.id,
                                                       Message.message_id.is_not(None))
                                 .order_by(Message.id.desc()).limit(20)).all()
    last_inbound = next((m for m in earlier if m.kind == "inbound" and not m.automated), None)
    parent = last_inbound or next((m for m in earlier if m.kind == "reply"), None)
    if parent is not None:
        message.in_reply_to = parent.message_id
        chain = (parent.references or "").split() + [parent.message_id]
        message.references = " ".join(dict.fromkeys(chain[-20:]))
    customer = db.session.get(Customer, ticket.customer_id)
    address = (last_inbound.from_address if last_inbound and last_inbound.from_address else None) \
        or (customer.emails[0] if customer and customer.emails else None)
    message.to_address = address
    message.charset = "iso-2022-jp" if last_inbound and (last_inbound.charset or "").lower() in (
        "iso-2022-jp", "iso2022jp", "csiso2022jp") else "utf-8"
    if not address:
        message.delivery, message.last_error = "not_sent", "The customer has no email address."
    elif not current_app.config.get("SMTP_URL"):
        message.delivery, message.last_error = "not_sent", "SMTP_URL is not set: kept in the outbox."
    else:
        message.delivery = "queued"


def _encodable(text: str, charset: str) -> bool:
    try:
        text.encode(charset)
    except UnicodeEncodeError:
        return False
    return True


def build(message: Message) -> MIMEMultipart:
    """The MIME message of a reply: text and HTML alternatives, ISO-2022-JP when the
    customer wrote in it and every character fits, UTF-8 otherwise."""
    from accounts.models import User

    charset = "utf-8"
    if message.charset == "iso-2022-jp" and _encodable(message.body + (message.subject or ""), "iso-2022-jp"):
        charset = "iso-2022-jp"
    author = db.session.get(User, message.author_id) if message.author_id else None
    name = current_app.config.get("MAIL_FROM_NAME") or "Tsunagu Support"
    if author is not None:
        name = f"{author.display_name} ({name})"
    mime = MIMEMultipart("alternative")
    mime.attach(MIMEText(message.body, "plain", charset))
    html = f"<!doctype html><html><body>{message.html}</body></html>"
    mime.attach(MIMEText(html, "html", "utf-8" if charset != "iso-2022-jp" or not _encodable(html, charset)
                         else charset))
    mime["Subject"] = Header(message.subject or "", charset)
    mime["From"] = formataddr((name, support_address()), charset=charset)
    mime["To"] = message.to_address
    mime["Reply-To"] = f"support+t{message.ticket_id}@{current_app.config['MAIL_DOMAIN']}"
    mime["Message-ID"] = message.message_id
    if message.in_reply_to:
        mime["In-Reply-To"] = message.in_reply_to
    if message.references:
        mime["References"] = message.references
    mime["Date"] = format_datetime(message.created_at)
    mime["Auto-Submitted"] = "no"
    mime["X-Tsunagu-Ticket"] = str(message.ticket_id)
    return mime


def smtp_send(url: str, sender: str, recipient: str, payload: bytes) -> None:
    """Send over ``smtp://[user:pass@]host:port`` (``smtps://`` for TLS, ``smtp+starttls://``)."""
    parts = urlsplit(url)
    host, port = parts.hostname or "127.0.0.1", parts.port
    if parts.scheme == "smtps":
        client = smtplib.SMTP_SSL(host, port or 465, timeout=30)
    else:
        client = smtplib.SMTP(host, port or 25, timeout=30)
    try:
        if parts.scheme == "smtp+starttls":
            client.starttls()
        if parts.username:
            client.login(unquote(parts.username), unquote(parts.password or ""))
        client.sendmail(sender, [recipient], payload)
    finally:
        try:
            client.quit()
        except (smtplib.SMTPException, OSError):
            client.close()


def _claim(message_id: int) -> bool:
    now = utcnow()
    result = db.session.execute(
        update(Message).where(Message.id == message_id, or_(
            Message.delivery == "queued",
            and_(Message.delivery == "failed", Message.next_attempt_at.is_not(None)),
            and_(Message.delivery == "sending", Message.sending_since < now - STALE_SENDING)))
        .values(delivery="sending", sending_since=now, attempts=Message.attempts + 1),
        execution_options={"synchronize_session": False})
    db.session.commit()
    return result.rowcount == 1


def _permanent(error: Exception) -> bool:
    if isinstance(error, smtplib.SMTPRecipientsRefused):
        return all(code >= 500 for code, _ in error.recipients.values())
    code = getattr(error, "smtp_code", None)
    return isinstance(code, int) and 500 <= code < 600


def deliver(message_id: int) -> str:
    """Send one reply if it is due; returns the resulting delivery state."""
    if not _claim(message_id):
        found = db.session.get(Message, message_id)
        return found.delivery if found is not None else "missing"
    message = db.session.get(Message, message_id)
    db.session.refresh(message)
    url = current_app.config.get("SMTP_URL")
    now = utcnow()
    try:
        if not url:
            raise _NotConfigured("SMTP_URL is not set: kept in the outbox.")
        mime = build(message)
        smtp_send(url, support_address(), message.to_address, mime.as_bytes(policy=mime.policy.clone(linesep="\r\n")))
    except _NotConfigured as error:
        message.delivery, message.last_error, message.next_attempt_at = "not_sent", str(error), None
    except (smtplib.SMTPException, OSError) as error:
        message.last_error = f"{type(error).__name__}: {error}"[:500]
        message.delivery = "failed"
        if _permanent(error) or message.attempts > len(BACKOFF_S):
            message.next_attempt_at = None  # gave up: shown as failed
        else:
            delay = BACKOFF_S[message.attempts - 1]
            message.next_attempt_at = now + timedelta(seconds=delay)
            from core.jobs import enqueue_in

            enqueue_in(delay, "tickets.mail.jobs.send_reply", message.id)
    else:
        message.delivery, message.sent_at, message.last_error, message.next_attempt_at = "sent", now, None, None
    message.sending_since = None
    ticket = db.session.get(Ticket, message.ticket_id)
    push("ticket_updated", {"ticket_id": ticket.id, "version": ticket.version}, ticket_room(ticket.id))
    return message.delivery


class _NotConfigured(Exception):
    pass


def due_for_retry(limit: int = 200) -> list[int]:
    """Replies waiting for a (re)try whose time has come (the sweep re-enqueues them, in
    case the delayed job was lost with Redis)."""
    now = utcnow()
    return list(db.session.scalars(
        select(Message.id).where(or_(
            and_(Message.delivery == "queued", Message.created_at < now - timedelta(minutes=2)),
            and_(Message.delivery == "failed", Message.next_attempt_at < now - timedelta(minutes=1)),
            and_(Message.delivery == "sending", Message.sending_since < now - STALE_SENDING)))
        .limit(limit)))
