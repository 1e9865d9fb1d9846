"""Ticket creation benchmark (issue 4): ``POST /api/v1/tickets`` from 8 concurrent clients
against gunicorn as ``./run.sh web`` runs it (gthread, one worker per core), on SQLite and
PostgreSQL.  The clients are keep-alive ``http.client`` connections carrying a logged-in
operator's cookie and CSRF token (``requests`` costs the shared cores ≈ 1 ms per call).

Dataset: 2,000 customers created first; then N tickets (default 4,000, after 200 warm-up
requests), 3 of 4 for an existing ``customer_id`` and 1 of 4 for a contact
``customer: {name, email}`` resolved (or created) by the customers service.  Every
request does the whole path: auth, validation, customer, ticket, first message, SLA due
times, timeline items, the routing signal (routing's wiring queues a work item and kicks
the drain job) and the after-commit pushes; a ``flask worker`` runs alongside, as in
production, and routes the tickets (to nobody: no operator is available).  Prints
tickets/s, p50/p95/p99, and checks the row count.

Usage: .venv/bin/python bench/tickets_create.py [--backends sqlite,postgresql] [--tickets 4000] [--clients 8]
"""
from __future__ import annotations

import argparse
import random
import threading
import time

from tickets_harness import KeepAliveClient, Stack, percentile


def seed_customers(stack: Stack, count: int) -> list[int]:
    from customers import service
    from extensions import db

    app = stack.app()
    with app.app_context():
        ids = []
        for index in range(count):
            ids.append(service.create({"name": f"顧客 {index}", "emails": [f"c{index}@example.jp"]}).id)
            if index % 500 == 499:
                db.session.commit()
        db.session.commit()
        db.engine.dispose()
    return ids


def run(backend: str, tickets: int, clients: int, workers: int | None = None) -> dict:
    stack = Stack(backend)
    try:
        customer_ids = seed_customers(stack, 2000)
        url = stack.web(workers)
        stack.worker()  # routing runs as in production: the worker places the new tickets
        # Operators log in (sessions, CSRF) as the console does; 8 clients, 8 operators.
        sessions = [KeepAliveClient(url, stack.login(url, f"bench-op{i}")) for i in range(clients)]
        rng = random.Random(1)
        subjects = ["商品がまだ届きません", "返品の手続きについて", "請求金額が違うようです", "破損していました"]

        def body(index: int) -> dict:
            payload = {"subject": f"{rng.choice(subjects)} {index}", "body": "お問い合わせ内容です。\n" * 5,
                       "channel": rng.choice(["email", "web", "phone", "chat"]),
                       "priority": rng.choice(["low", "normal", "normal", "high", "urgent"])}
            if index % 4 == 3:
                payload["customer"] = {"name": f"新規 {index % 500}", "email": f"new{index % 500}@example.org"}
            else:
                payload["customer_id"] = rng.choice(customer_ids)
            return payload

        warm = sessions[0]
        for index in range(200):
            assert warm.post("/api/v1/tickets", body(index)) == 201
        counter = iter(range(200, 200 + tickets))
        lock = threading.Lock()
        latencies: list[float] = []
        failures: list[int] = []

        def client(session):
            while True:
                with lock:
                    index = next(counter, None)
                    payload = body(index) if index is not None else None
                if index is None:
                    return
                start = time.perf_counter()
                status = session.post("/api/v1/tickets", payload)
                elapsed = time.perf_counter() - start
                with lock:
                    (latencies if status == 201 else failures).append(elapsed if status == 201 else status)

        threads = [threading.Thread(target=client, args=(sessions[i],)) for i in range(clients)]
        began = time.perf_counter()
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        wall = time.perf_counter() - began
        app = stack.app()
        from sqlalchemy import func, select

        from extensions import db
        from routing.models import WorkItem
        from tickets.models import Ticket

        with app.app_context():
            stored = db.session.scalar(select(func.count()).select_from(Ticket))
            queued = db.session.scalar(select(func.count()).select_from(WorkItem))
            db.engine.dispose()
        assert queued == stored, (queued, stored)  # every ticket reached routing
        return {"backend": backend, "workers": workers or "default", "tickets": tickets, "clients": clients, "ok": len(latencies),
                "failed": len(failures), "stored": stored, "per_s": len(latencies) / wall,
                "p50_ms": percentile(latencies, .5) * 1000, "p95_ms": percentile(latencies, .95) * 1000,
                "p99_ms": percentile(latencies, .99) * 1000}
    finally:
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--tickets", type=int, default=4000)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--web-workers", type=int, default=None,
                        help="gunicorn workers (default: as run.sh, WEB_WORKERS or one per core)")
    args = parser.parse_args()
    for backend in args.backends.split(","):
        result = run(backend, args.tickets, args.clients, args.web_workers)
        print(f"[{result['backend']}, {result['workers']} web worker(s)] POST /api/v1/tickets, {result['clients']} clients, {result['ok']} created "
              f"({result['failed']} failed; {result['stored']} rows incl. 200 warm-up; 2,000 customers): "
              f"{result['per_s']:.0f} tickets/s, p50 {result['p50_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms, "
              f"p99 {result['p99_ms']:.1f} ms", flush=True)


if __name__ == "__main__":
    main()
