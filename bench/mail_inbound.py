"""Inbound SMTP benchmark (issue 4): 10,000 messages from 4 concurrent smtplib clients to
the real listener (``flask mail``, as ``./run.sh mail`` runs it), processed by two real
``flask worker`` processes; on SQLite and PostgreSQL.

Dataset: 10,000 Japanese UTF-8 messages (about 1.5 KB each) from 2,000 senders; one in five
answers the sender's previous message (In-Reply-To), so it threads onto that ticket.
Prints messages accepted per second (every 250 received), then waits until every stored
mail is processed and checks that none was lost: stored rows = sent, messages = sent,
tickets = sent − threaded answers.

Usage: .venv/bin/python bench/mail_inbound.py [--backends sqlite,postgresql] [--messages 10000] [--clients 4]
"""
from __future__ import annotations

import argparse
import smtplib
import socket
import threading
import time
from email.message import EmailMessage

from tickets_harness import FLASK, Stack, free_port, percentile


def build(index: int, previous: dict) -> tuple[str, bytes, bool]:
    sender = f"sender{index % 2000}@example.jp"
    message = EmailMessage()
    message["From"] = f"顧客 {index % 2000} <{sender}>"
    message["To"] = "support@support.example.test"
    message["Message-ID"] = f"<bench.{index}@example.jp>"
    threaded = index >= 2000 and index % 5 == 0 and sender in previous
    if threaded:
        message["In-Reply-To"] = previous[sender]
        message["Subject"] = "Re: お問い合わせ"
    else:
        message["Subject"] = f"お問い合わせ {index}"
    message.set_content(f"注文番号 {index} の商品について問い合わせます。配送状況を教えてください。\n" * 12)
    return sender, message.as_bytes(policy=message.policy.clone(linesep="\r\n")), threaded


def wait_port(port: int, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError("the mail listener did not start")


def run(backend: str, total: int, clients: int) -> dict:
    port = free_port()
    stack = Stack(backend, SMTP_LISTEN=f"127.0.0.1:{port}")
    try:
        stack.spawn(FLASK + ["mail"])
        for _ in range(2):
            stack.worker()
        wait_port(port)
        previous: dict[str, str] = {}
        prepared = []
        for index in range(total):
            sender, raw, threaded = build(index, previous)
            prepared.append((sender, raw))
            previous[sender] = f"<bench.{index}@example.jp>"
        threaded_count = sum(1 for i in range(total) if i >= 2000 and i % 5 == 0)
        latencies: list[float] = []
        refused: list = []
        lock = threading.Lock()
        # Each client sends its own slice in order, so an answer follows the mail it answers
        # (the slices interleave senders; the threaded ones answer mail sent ≥ 2,000 earlier).
        slices = [prepared[i::clients] for i in range(clients)]

        def client(items):
            connection = smtplib.SMTP("127.0.0.1", port, timeout=60)
            for count, (sender, raw) in enumerate(items, 1):
                start = time.perf_counter()
                try:
                    connection.sendmail(sender, ["support@support.example.test"], raw)
                    elapsed = time.perf_counter() - start
                    with lock:
                        latencies.append(elapsed)
                except smtplib.SMTPException as error:
                    with lock:
                        refused.append(repr(error))
                if count % 200 == 0:
                    connection.quit()
                    connection = smtplib.SMTP("127.0.0.1", port, timeout=60)
            connection.quit()

        threads = [threading.Thread(target=client, args=(s,)) for s in slices]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        accept_s = time.perf_counter() - began

        app = stack.app()
        from sqlalchemy import func, select

        from extensions import db
        from tickets.models import InboundMail, Message, Ticket

        with app.app_context():
            stored = db.session.scalar(select(func.count()).select_from(InboundMail))
            deadline = time.monotonic() + 1800
            while time.monotonic() < deadline:
                pending = db.session.scalar(select(func.count()).select_from(InboundMail)
                                            .where(InboundMail.status == "stored"))
                db.session.rollback()
                if not pending:
                    break
                time.sleep(1)
            done_s = time.perf_counter() - began
            counts = {
                "stored": stored,
                "unprocessed": db.session.scalar(select(func.count()).select_from(InboundMail)
                                                 .where(InboundMail.status != "processed")),
                "messages": db.session.scalar(select(func.count()).select_from(Message)),
                "tickets": db.session.scalar(select(func.count()).select_from(Ticket)),
            }
            db.engine.dispose()
        return {"backend": backend, "sent": total, "accepted": len(latencies), "refused": len(refused),
                "accepted_per_s": len(latencies) / accept_s, "accept_s": accept_s,
                "p50_ms": percentile(latencies, .5) * 1000, "p99_ms": percentile(latencies, .99) * 1000,
                "processed_per_s": total / done_s, "all_done_s": done_s,
                "expected_tickets": total - threaded_count, **counts}
    finally:
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--messages", type=int, default=10000)
    parser.add_argument("--clients", type=int, default=4)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        r = run(backend, args.messages, args.clients)
        lost = r["sent"] - r["stored"]
        print(f"[{r['backend']}] {r['sent']} messages from {args.clients} smtplib clients: {r['accepted']} accepted "
              f"({r['refused']} refused) in {r['accept_s']:.1f} s = {r['accepted_per_s']:.0f} msg/s accepted "
              f"(250 after durable store: p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms); all processed by 2 "
              f"workers after {r['all_done_s']:.1f} s ({r['processed_per_s']:.0f} msg/s end to end); stored "
              f"{r['stored']}, lost {lost}, not processed {r['unprocessed']}, messages {r['messages']}, tickets "
              f"{r['tickets']} (expected {r['expected_tickets']})", flush=True)


if __name__ == "__main__":
    main()
