"""Inbound SMTP → tickets, outbound replies → a real SMTP sink, threading both ways,
duplicates, size and relay refusals, malformed and hostile mail, Japanese charsets."""
from __future__ import annotations

import email
import smtplib
from email import policy
from email.mime.text import MIMEText

import pytest
from sqlalchemy import func, select

from tests.conftest import free_port
from tests.test_mail_helpers import SUPPORT, drain, mail, send, start_sink


@pytest.fixture
def listener(app):
    from tickets.mail.listener import MailListener

    server = MailListener(app, f"127.0.0.1:{free_port()}").start()
    yield server
    server.stop()


@pytest.fixture
def sink(app, monkeypatch):
    box, controller = start_sink()
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{controller.port}")
    yield box
    controller.stop()


def _tickets(app):
    from extensions import db
    from tickets.models import Ticket

    with app.app_context():
        return list(db.session.scalars(select(Ticket).order_by(Ticket.id)))


def _count(app, model):
    from extensions import db

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(model))


def _messages(app, ticket_id):
    from tickets.service import messages_of

    with app.app_context():
        return messages_of(ticket_id)


def test_mail_round_trip_threads_both_ways(app, client, login, listener, sink):
    from customers import service as customers
    from extensions import db

    with app.app_context():
        known = customers.create({"name": "山田 太郎", "emails": ["taro@example.jp"]})
        db.session.commit()
        known_id = known.id
    first = mail(message_id="<first.1@example.jp>")
    assert send(listener.port, first) == {}
    drain(app)
    [ticket] = _tickets(app)
    assert ticket.customer_id == known_id and ticket.channel == "email" and ticket.status == "new"
    assert ticket.subject == "配送について"
    [inbound] = _messages(app, ticket.id)
    assert inbound.kind == "inbound" and inbound.body == "商品が届きません。"
    assert inbound.message_id == "<first.1@example.jp>" and inbound.from_address == "taro@example.jp"

    user_id, _ = login(client)
    client.patch(f"/api/v1/tickets/{ticket.id}", json={"assignee_id": user_id})
    reply = client.post(f"/api/v1/tickets/{ticket.id}/messages",
                        json={"body": "ご不便をおかけしております。**本日発送**いたします。", "kind": "reply",
                              "status": "pending"})
    assert reply.status_code == 201, reply.get_json()
    assert reply.get_json()["delivery"] == "queued"
    drain(app)
    [envelope] = sink.wait(1)
    assert envelope.rcpt_tos == ["taro@example.jp"]
    sent = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert sent["In-Reply-To"] == "<first.1@example.jp>"
    assert "<first.1@example.jp>" in sent["References"]
    assert f"[#{ticket.id}]" in sent["Subject"] and sent["Subject"].startswith("Re: 配送について")
    assert sent["Message-ID"] == reply.get_json()["message_id"]
    assert sent["Reply-To"].endswith("@support.example.test")
    text = sent.get_body(("plain",)).get_content()
    assert "本日発送" in text
    after = client.get(f"/api/v1/tickets/{ticket.id}").get_json()
    assert after["status"] == "pending" and after["messages"][-1]["delivery"] == "sent"

    # The customer answers the reply: threaded by In-Reply-To, and it reopens the ticket.
    answer = mail(subject=f"Re: {sent['Subject']}", body="ありがとうございます。\n\n> 本日発送いたします。",
                  message_id="<answer.2@example.jp>", In_Reply_To=sent["Message-ID"],
                  References=f"<first.1@example.jp> {sent['Message-ID']}")
    send(listener.port, answer)
    drain(app)
    assert len(_tickets(app)) == 1
    again = client.get(f"/api/v1/tickets/{ticket.id}").get_json()
    assert again["status"] == "open"
    assert [m["kind"] for m in again["messages"]] == ["inbound", "reply", "inbound"]
    last = again["messages"][-1]
    assert last["quoted_at"] is not None and last["body"][last["quoted_at"]:].startswith(">")
    kinds = [item["kind"] for item in client.get(f"/api/v1/customers/{known_id}/timeline").get_json()["items"]]
    assert kinds.count("email") == 2 and "reply" in kinds


def test_unknown_sender_becomes_a_customer(app, listener):
    from customers import service as customers

    send(listener.port, mail(sender="New.Person@Example.org", name="新規 顧客"))
    drain(app)
    [ticket] = _tickets(app)
    with app.app_context():
        customer = customers.lookup(email="new.person@example.org")
        assert customer is not None and customer.id == ticket.customer_id and customer.name == "新規 顧客"


def test_same_message_id_is_stored_once(app, listener):
    from tickets.models import InboundMail, Message

    message = mail(message_id="<dup@example.jp>")
    send(listener.port, message)
    send(listener.port, message)  # accepted again (250), not stored again
    drain(app)
    send(listener.port, message)
    drain(app)
    assert _count(app, InboundMail) == 1 and len(_tickets(app)) == 1 and _count(app, Message) == 1


def test_oversize_mail_is_refused_with_552(app, monkeypatch):
    from tickets.mail.listener import MailListener
    from tickets.models import InboundMail

    monkeypatch.setitem(app.config, "MAIL_MAX_BYTES", 4000)
    server = MailListener(app, f"127.0.0.1:{free_port()}").start()
    try:
        with pytest.raises((smtplib.SMTPDataError, smtplib.SMTPSenderRefused)) as raised:
            send(server.port, mail(body="あ" * 5000))
        assert raised.value.smtp_code == 552
        # Without SIZE= announced up front, DATA itself is refused.
        with smtplib.SMTP("127.0.0.1", server.port, timeout=10) as raw_client:
            raw_client.ehlo_or_helo_if_needed()
            raw_client.esmtp_features.pop("size", None)
            raw_client.mail("taro@example.jp")
            raw_client.rcpt(SUPPORT)
            big = mail(body="x" * 6000)
            code, _ = raw_client.data(big.as_bytes(policy=big.policy.clone(linesep="\r\n")))
            assert code == 552
        send(server.port, mail(body="small"))
    finally:
        server.stop()
    assert _count(app, InboundMail) == 1


def test_foreign_recipients_are_refused_at_rcpt_and_never_relayed(app, listener):
    from tickets.models import InboundMail

    with pytest.raises(smtplib.SMTPRecipientsRefused) as raised:
        send(listener.port, mail(to="someone@elsewhere.example"), to=("someone@elsewhere.example",))
    [(code, _)] = raised.value.recipients.values()
    assert code == 550
    # Mixed: only our recipient is accepted.
    refused = send(listener.port, mail(), to=(SUPPORT, "victim@elsewhere.example"))
    assert refused["victim@elsewhere.example"][0] == 550
    with smtplib.SMTP("127.0.0.1", listener.port, timeout=10) as client:
        client.ehlo()
        assert client.rcpt("nobody@support.example.test.evil.example")[0] == 503  # no MAIL FROM yet
        client.mail("a@b.example")
        assert client.rcpt("nobody@support.example.test.evil.example")[0] == 550
    drain(app)
    assert _count(app, InboundMail) == 1


def test_malformed_mime_still_becomes_a_ticket(app, listener):
    raw = (b"From: broken@example.jp\r\nSubject: =?utf-8?B?5aOK44KM44Gf?= broken\r\nMessage-ID: <broken@x>\r\n"
           b"Content-Type: multipart/mixed; boundary=\"zz\"\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"--zz\r\nContent-Type: text/plain; charset=unknown-charset-x\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"44GT44KT44Gr44Gh44Gv!!!not base64\r\n--zz\r\nContent-Type: application/octet-stream\r\n\r\n\x00\x01\x02")
    send(listener.port, raw, mail_from="broken@example.jp")
    send(listener.port, b"no headers at all\x00\xff", mail_from="nohead@example.jp")
    drain(app)
    tickets = _tickets(app)
    assert len(tickets) == 2
    assert tickets[0].subject.startswith("壊れた")
    assert _messages(app, tickets[1].id)[0].body.startswith("no headers at all")


def test_html_mail_is_sanitised_and_keeps_a_text_alternative(app, client, login, listener):
    message = mail(subject="HTML", body="テキスト版です。")
    message.add_alternative(
        '<p onclick="steal()">本文<script>alert(1)</script><a href="javascript:alert(2)">link</a>'
        '<img src="https://tracker.example/pixel.gif"><iframe src="https://evil.example"></iframe></p>',
        subtype="html")
    send(listener.port, message)
    drain(app)
    [ticket] = _tickets(app)
    login(client)
    [inbound] = client.get(f"/api/v1/tickets/{ticket.id}").get_json()["messages"]
    html = inbound["html"]
    assert "本文" in html
    for bad in ("<script", "onclick", "javascript:", "tracker.example", "<iframe", "alert(1)"):
        assert bad not in html, bad
    assert inbound["body"] == "テキスト版です。"


def test_iso_2022_jp_mail_and_reply_in_iso_2022_jp(app, client, login, listener, sink):
    from email.header import Header

    message = MIMEText("お世話になっております。\n返品の手続きを教えてください。", "plain", "iso-2022-jp")
    message["Subject"] = Header("返品について", "iso-2022-jp")
    message["From"] = f"{Header('鈴木 一郎', 'iso-2022-jp').encode()} <ichiro@example.jp>"
    message["To"] = SUPPORT
    message["Message-ID"] = "<iso@example.jp>"
    assert b"\x1b$B" in message.as_bytes()
    send(listener.port, message, mail_from="ichiro@example.jp")
    drain(app)
    [ticket] = _tickets(app)
    assert ticket.subject == "返品について"
    [inbound] = _messages(app, ticket.id)
    assert "返品の手続き" in inbound.body and inbound.from_name == "鈴木 一郎"
    login(client, roles="supervisor")
    client.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "返品は30日以内に承ります。", "kind": "reply"})
    drain(app)
    [envelope] = sink.wait(1)
    assert b'charset="iso-2022-jp"' in envelope.original_content
    sent = email.message_from_bytes(envelope.original_content, policy=policy.default)
    assert sent.get_body(("plain",)).get_content().strip() == "返品は30日以内に承ります。"
    assert "返品について" in sent["Subject"]


def test_shift_jis_headers_and_body(app, listener):
    import base64

    raw = (b"From: =?shift_jis?B?" + base64.b64encode("①花子".encode("cp932")) + b"?= <hanako@example.jp>\r\n"
           b"Subject: " + "①の件（機種依存文字）".encode("cp932") + b"\r\nMessage-ID: <sjis@example.jp>\r\n"
           b"Content-Type: text/plain; charset=Shift_JIS\r\n\r\n" + "髙橋です。②番の商品です。".encode("cp932"))
    send(listener.port, raw, mail_from="hanako@example.jp")
    drain(app)
    [ticket] = _tickets(app)
    assert ticket.subject == "①の件（機種依存文字）"
    [inbound] = _messages(app, ticket.id)
    assert inbound.body == "髙橋です。②番の商品です。" and inbound.from_name == "①花子"


@pytest.mark.parametrize("headers, mail_from", [
    ({"Auto_Submitted": "auto-replied"}, "taro@example.jp"),
    ({"Precedence": "bulk"}, "taro@example.jp"),
    ({"Precedence": "junk"}, "taro@example.jp"),
    ({}, "MAILER-DAEMON@mx.example.jp"),
    ({}, ""),  # empty return path: a bounce
])
def test_auto_replies_and_bounces_never_create_tickets(app, listener, headers, mail_from):
    from tickets.models import InboundMail

    sender = mail_from or "taro@example.jp"
    send(listener.port, mail(sender=sender, name=None, **headers), mail_from=mail_from)
    drain(app)
    assert _tickets(app) == []
    with app.app_context():
        from extensions import db

        row = db.session.scalar(select(InboundMail))
        assert row.status == "ignored" and row.error


def test_bounce_of_a_reply_is_kept_on_the_ticket_without_reopening(app, client, login, listener):
    send(listener.port, mail(message_id="<orig@example.jp>"))
    drain(app)
    [ticket] = _tickets(app)
    user_id, _ = login(client)
    client.patch(f"/api/v1/tickets/{ticket.id}", json={"assignee_id": user_id})
    reply = client.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "r", "kind": "reply",
                                                                       "status": "solved"}).get_json()
    bounce = mail(sender="mailer-daemon@mx.example.jp", name=None, subject="Undelivered Mail",
                  In_Reply_To=reply["message_id"], Auto_Submitted="auto-replied")
    send(listener.port, bounce, mail_from="")
    drain(app)
    after = client.get(f"/api/v1/tickets/{ticket.id}").get_json()
    assert after["status"] == "solved" and len(_tickets(app)) == 1
    assert after["messages"][-1]["automated"] is True


def test_threading_by_references_newest_first_and_subject_tag(app, client, login, listener):
    send(listener.port, mail(subject="一件目", message_id="<a1@example.jp>"))
    send(listener.port, mail(subject="二件目", message_id="<b1@example.jp>"))
    drain(app)
    first, second = _tickets(app)
    # References name both tickets' messages: the newest (last) wins.
    send(listener.port, mail(subject="Re: ?", message_id="<c1@example.jp>", References="<a1@example.jp> <b1@example.jp>"))
    send(listener.port, mail(subject=f"追加の質問 [#{first.id}]", message_id="<d1@example.jp>"))
    send(listener.port, mail(subject="unknown refs", message_id="<e1@example.jp>", In_Reply_To="<nowhere@x>"))
    drain(app)
    assert len(_messages(app, second.id)) == 2
    assert [m.message_id for m in _messages(app, first.id)] == ["<a1@example.jp>", "<d1@example.jp>"]
    assert len(_tickets(app)) == 3


def test_answer_to_a_closed_ticket_opens_a_linked_ticket_and_solved_reopens(app, client, login, listener):
    send(listener.port, mail(message_id="<closed1@example.jp>"))
    send(listener.port, mail(message_id="<solved1@example.jp>", subject="別件"))
    drain(app)
    closing, solving = _tickets(app)
    login(client, roles="supervisor")
    client.patch(f"/api/v1/tickets/{closing.id}", json={"status": "closed"})
    client.patch(f"/api/v1/tickets/{solving.id}", json={"status": "solved"})
    send(listener.port, mail(message_id="<closed2@example.jp>", In_Reply_To="<closed1@example.jp>"))
    send(listener.port, mail(message_id="<solved2@example.jp>", In_Reply_To="<solved1@example.jp>"))
    drain(app)
    tickets = _tickets(app)
    assert len(tickets) == 3
    assert tickets[2].linked_ticket_id == closing.id and tickets[2].status == "new"
    assert tickets[0].status == "closed"
    assert tickets[1].status == "open" and tickets[1].solved_at is None


def test_stored_but_unprocessed_mail_is_picked_up_by_the_sweep(app, listener):
    from datetime import timedelta

    from core.db import utcnow
    from extensions import db
    from tickets.mail import jobs
    from tickets.models import InboundMail

    send(listener.port, mail(message_id="<lost@example.jp>"))
    # The listener was killed after its 250 before the job ran: the queue is empty.
    app.extensions["tsunagu_redis"].flushdb()
    assert _count(app, InboundMail) == 1 and _tickets(app) == []
    with app.app_context():
        row = db.session.scalar(select(InboundMail))
        row.received_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
        assert jobs.sweep()["inbound"] == 1
    drain(app)
    assert len(_tickets(app)) == 1
    with app.app_context():
        # Processing again (a retried job) changes nothing.
        assert jobs.process_inbound(db.session.scalar(select(InboundMail.id)))["status"] == "processed"
    assert len(_tickets(app)) == 1


def test_the_sweep_leaves_a_mail_whose_job_is_still_waiting_in_the_queue(app, listener):
    """Under a backlog mails wait in the queue longer than the sweep's 30 s: it must not
    enqueue each of them a second time (every minute, up to 500), only the lost ones."""
    from datetime import timedelta

    from rq import Queue

    from core.db import utcnow
    from extensions import db
    from tickets.mail import jobs
    from tickets.models import InboundMail

    send(listener.port, mail(message_id="<backlog@example.jp>"))
    redis = app.extensions["tsunagu_redis"]
    default = Queue("default", connection=redis)
    with app.app_context():
        row = db.session.scalar(select(InboundMail))
        assert default.job_ids == [jobs.inbound_job_id(row.id)]
        row.received_at = utcnow() - timedelta(minutes=5)
        db.session.commit()
        assert jobs.sweep()["inbound"] == 0  # its job is still queued
        assert len(default) == 1
        default.empty()  # now it is lost
        assert jobs.sweep()["inbound"] == 1
        assert default.job_ids == [jobs.inbound_job_id(row.id)]
    drain(app)
    assert len(_tickets(app)) == 1


def test_attachments_are_stored_listed_and_size_limited(app, client, login, listener, monkeypatch):
    monkeypatch.setitem(app.config, "MAIL_ATTACHMENT_MAX_BYTES", 1000)
    message = mail(subject="添付あり")
    message.add_attachment(b"%PDF-1.4 small", maintype="application", subtype="pdf", filename="請求書.pdf")
    message.add_attachment(b"x" * 5000, maintype="application", subtype="octet-stream", filename="big.bin")
    send(listener.port, message)
    drain(app)
    [ticket] = _tickets(app)
    login(client)
    [inbound] = client.get(f"/api/v1/tickets/{ticket.id}").get_json()["messages"]
    files = {a["filename"]: a for a in inbound["attachments"]}
    assert files["請求書.pdf"]["size"] == 14 and not files["請求書.pdf"]["omitted"]
    assert files["big.bin"]["omitted"] and files["big.bin"]["size"] == 5000
    download = client.get(files["請求書.pdf"]["url"])
    assert download.status_code == 200 and download.data == b"%PDF-1.4 small"
    assert "attachment" in download.headers["Content-Disposition"]
    assert client.get(files["big.bin"]["url"]).status_code == 404


def test_reply_without_smtp_url_is_not_sent_and_failures_retry_without_duplicates(app, client, login, listener,
                                                                                  monkeypatch):
    from extensions import db
    from tickets.mail import outbound
    from tickets.models import Message

    send(listener.port, mail(message_id="<x1@example.jp>"))
    drain(app)
    [ticket] = _tickets(app)
    login(client, roles="supervisor")
    monkeypatch.setitem(app.config, "SMTP_URL", None)
    kept = client.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "outbox", "kind": "reply"}).get_json()
    assert kept["delivery"] == "not_sent"

    # A dead SMTP server: failed, retrying later with back-off.
    monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{free_port()}")
    reply = client.post(f"/api/v1/tickets/{ticket.id}/messages", json={"body": "retry me", "kind": "reply"}).get_json()
    with app.app_context():
        assert outbound.deliver(reply["id"]) == "failed"
        db.session.commit()
        row = db.session.get(Message, reply["id"])
        assert row.attempts == 1 and row.next_attempt_at is not None
    shown = client.get(f"/api/v1/tickets/{ticket.id}").get_json()["messages"][-1]
    assert shown["delivery"] == "failed" and shown["delivery_detail"] == "retrying"

    box, controller = start_sink()
    try:
        monkeypatch.setitem(app.config, "SMTP_URL", f"smtp://127.0.0.1:{controller.port}")
        with app.app_context():
            assert outbound.deliver(reply["id"]) == "sent"
            db.session.commit()
            # Retried or duplicated jobs do nothing once sent.
            assert outbound.deliver(reply["id"]) == "sent"
            assert outbound.deliver(kept["id"]) == "not_sent"
        drain(app)
        assert len(box.wait(1)) == 1
        import time

        time.sleep(0.3)
        assert len(box.envelopes) == 1
    finally:
        controller.stop()
