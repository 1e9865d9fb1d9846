"""Helpers for the mail tests (no tests here): a real listener, a real SMTP sink, smtplib
sending and an in-process RQ burst worker (one test also uses a real worker process)."""
from __future__ import annotations

import smtplib
import time
from email.message import EmailMessage

from tests.conftest import free_port

SUPPORT = "support@support.example.test"


class Sink:
    """aiosmtpd handler that keeps every message it receives (the customer's mailbox)."""

    def __init__(self):
        self.envelopes = []

    async def handle_DATA(self, server, session, envelope):
        self.envelopes.append(envelope)
        return "250 2.0.0 OK"

    def wait(self, count: int, timeout: float = 15.0):
        deadline = time.monotonic() + timeout
        while len(self.envelopes) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.envelopes


def start_sink():
    from aiosmtpd.controller import Controller

    sink = Sink()
    controller = Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    return sink, controller


def mail(subject="配送について", body="商品が届きません。", sender="taro@example.jp", name="山田 太郎",
         message_id=None, to=SUPPORT, **headers) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = f"{name} <{sender}>" if name else sender
    msg["To"] = to
    msg["Subject"] = subject
    msg["Message-ID"] = message_id or f"<{time.time_ns()}.test@example.jp>"
    for key, value in headers.items():
        msg[key.replace("_", "-")] = value
    msg.set_content(body)
    return msg


def send(port: int, message, mail_from: str | None = None, to=(SUPPORT,)):
    # SMTP wants CRLF line ends (smtplib only fixes them for str messages).
    raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n")) if hasattr(message, "as_bytes") else message
    sender = mail_from if mail_from is not None else (message["From"] if hasattr(message, "get") else "x@example.jp")
    if sender and "<" in sender:
        sender = sender.split("<")[1].rstrip(">")
    with smtplib.SMTP("127.0.0.1", port, timeout=15) as client:
        return client.sendmail(sender, list(to), raw)


def drain(app) -> None:
    """Run every queued job now (an RQ burst worker in this process)."""
    from rq import Queue, SimpleWorker

    from core.jobs import QUEUES

    with app.app_context():
        connection = app.extensions["tsunagu_redis"]
        worker = SimpleWorker([Queue(q, connection=connection) for q in QUEUES], connection=connection)
        worker.work(burst=True, logging_level="WARNING")
