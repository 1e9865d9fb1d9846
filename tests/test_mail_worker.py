"""The whole mail path through a REAL `flask worker` process: SMTP in → stored →
the worker's job makes the ticket → a reply → the worker's job sends it to a real sink."""
from __future__ import annotations

import email
import time
from email import policy

import pytest
from sqlalchemy import select

from tests.conftest import free_port
from tests.test_mail_helpers import drain, mail, send, start_sink

pytestmark = pytest.mark.processes


def _wait(predicate, timeout=30.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_mail_and_reply_through_a_real_worker_process(app, client, login, processes, monkeypatch):
    from extensions import db
    from tickets.mail.listener import MailListener
    from tickets.models import Ticket

    box, sink = start_sink()
    smtp_url = f"smtp://127.0.0.1:{sink.port}"
    monkeypatch.setitem(app.config, "SMTP_URL", smtp_url)
    listener = MailListener(app, f"127.0.0.1:{free_port()}").start()
    worker = processes.worker(SMTP_URL=smtp_url)
    try:
        send(listener.port, mail(subject="ワーカー経由", message_id="<worker.1@example.jp>"))

        def _ticket():
            with app.app_context():
                found = db.session.scalar(select(Ticket))
                db.session.remove()
                return found

        ticket = _wait(_ticket)
        assert ticket.subject == "ワーカー経由" and ticket.channel == "email"
        login(client, roles="supervisor")
        reply = client.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "承知しました。", "kind": "reply"})
        assert reply.status_code == 201 and reply.get_json()["delivery"] == "queued"
        [envelope] = _wait(lambda: box.envelopes)
        sent = email.message_from_bytes(envelope.original_content, policy=policy.default)
        assert sent["In-Reply-To"] == "<worker.1@example.jp>" and f"[#{ticket.id}]" in sent["Subject"]
        _wait(lambda: client.get(f"/api/v1/tickets/{ticket.id}").get_json()["messages"][-1]["delivery"] == "sent")
    finally:
        worker.terminate()
        worker.wait(10)
        listener.stop()
        sink.stop()
        drain(app)
