"""The inbound SMTP listener (aiosmtpd) on ``SMTP_LISTEN``.

* RCPT: only addresses at ``MAIL_DOMAIN``; anything else is 550 (we never relay).
* Size: ``MAIL_MAX_BYTES`` — aiosmtpd answers 552 to a larger ``SIZE=`` or DATA.
* DATA: the raw bytes are committed to ``inbound_mails`` *before* the 250 reply; if the
  database cannot take them the client gets a 451 and retries later, so an accepted
  mail is never lost.  Parsing happens in a job.
"""
from __future__ import annotations

import asyncio
import logging
from concurrent.futures import ThreadPoolExecutor

from aiosmtpd.controller import Controller

log = logging.getLogger(__name__)


def parse_listen(value: str) -> tuple[str, int]:
    """``host:port`` (``[::1]:25`` for IPv6) → (host, port)."""
    host, _, port = value.strip().rpartition(":")
    if not port.isdigit():
        raise ValueError(f"SMTP_LISTEN must be host:port, not {value!r}")
    return (host.strip("[]") or "127.0.0.1"), int(port)


class TicketMailHandler:
    """aiosmtpd handler: accept for our domain, store durably, then 250."""

    def __init__(self, app, workers: int = 8):
        self.app = app
        self.domain = app.config["MAIL_DOMAIN"].lower()
        self.pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="mail-store")

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local, at, domain = (address or "").strip("<> ").rpartition("@")
        if not at or not local or domain.lower() != self.domain:
            return f"550 5.7.1 Relaying denied: this server only accepts mail for @{self.domain}"
        if len(envelope.rcpt_tos) >= 100:
            return "452 4.5.3 Too many recipients"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        raw = envelope.original_content or envelope.content or b""
        if isinstance(raw, str):
            raw = raw.encode("utf-8", errors="surrogateescape")
        loop = asyncio.get_running_loop()
        try:
            inbound_id, created = await loop.run_in_executor(
                self.pool, self._store, raw, envelope.mail_from or "", list(envelope.rcpt_tos))
        except Exception:
            log.exception("could not store an inbound mail from %s", envelope.mail_from)
            return "451 4.3.0 Could not store the message; please try again later"
        return f"250 2.0.0 Stored as {inbound_id}" + ("" if created else " (duplicate)")

    def _store(self, raw: bytes, mail_from: str, rcpt_tos: list[str]) -> tuple[int, bool]:
        from extensions import db
        from tickets.mail.inbound import store

        with self.app.app_context():
            try:
                return store(raw, mail_from, rcpt_tos)
            finally:
                db.session.remove()


class MailListener:
    """The SMTP server in a background thread (``start``/``stop``), for ``flask mail``
    and for tests."""

    def __init__(self, app, listen: str | None = None):
        self.app = app
        self.host, self.port = parse_listen(listen or app.config["SMTP_LISTEN"])
        self.handler = TicketMailHandler(app)
        self.controller = Controller(
            self.handler, hostname=self.host, port=self.port, ready_timeout=10,
            data_size_limit=int(app.config["MAIL_MAX_BYTES"]), enable_SMTPUTF8=True,
            ident="Tsunagu ESMTP", server_hostname=app.config["MAIL_DOMAIN"])

    def start(self) -> MailListener:
        self.controller.start()
        return self

    def stop(self) -> None:
        self.controller.stop()
        self.handler.pool.shutdown(wait=True)
