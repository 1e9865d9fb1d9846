"""Ticket list benchmark (issue 4): ``GET /api/v1/tickets?assignee=ID&status=S&limit=50``
over 100,000 tickets, through gunicorn as ``./run.sh web`` runs it, on SQLite and PostgreSQL.

Dataset (inserted set-based): 5,000 customers, 50 operators, 100,000 tickets spread over
the operators (10 % unassigned) and the six statuses, with SLA due times and tags.  Then
2,000 list requests (the operator's "mine, open" and similar filters, random operator and
status; also "unassigned, new") from one client; prints p50/p95/p99 and the query plan.

Usage: .venv/bin/python bench/tickets_list.py [--backends sqlite,postgresql] [--tickets 100000] [--requests 2000]
"""
from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime, timedelta

from tickets_harness import Stack, percentile

STATUSES = ["new", "open", "open", "pending", "on_hold", "solved", "closed", "closed"]


def seed(stack: Stack, total: int) -> list[int]:
    from sqlalchemy import insert, select, text
    from werkzeug.security import generate_password_hash

    from accounts.models import User
    from customers.models import Customer
    from extensions import db
    from tickets.models import Ticket

    app = stack.app()
    rng = random.Random(7)
    now = datetime.now(UTC)
    with app.app_context():
        password = generate_password_hash("bench-password")
        db.session.execute(insert(User), [{"username": f"op{i}", "password_hash": password, "name": f"オペレーター{i}",
                                           "roles_csv": "operator", "tier": 1 + i % 3, "skills": [],
                                           "active": True, "created_at": now, "version": 1} for i in range(50)])
        db.session.execute(insert(Customer), [{"name": f"顧客 {i}", "dm_opt_in": False, "tags": [],
                                               "rank_computed": rng.choice(["platinum", "gold", "silver", "bronze",
                                                                            "new"]),
                                               "frequency": 0, "monetary": 0, "ltv": 0, "version": 1,
                                               "created_at": now, "updated_at": now} for i in range(5000)])
        db.session.commit()
        users = list(db.session.scalars(select(User.id)))
        customers = list(db.session.scalars(select(Customer.id)))
        batch = []
        for index in range(total):
            created = now - timedelta(minutes=total - index)
            batch.append({
                "subject": f"お問い合わせ {index}", "status": rng.choice(STATUSES),
                "priority": rng.choice(["low", "normal", "normal", "high", "urgent"]),
                "channel": rng.choice(["phone", "email", "web", "chat"]), "customer_id": rng.choice(customers),
                "assignee_id": None if rng.random() < 0.1 else rng.choice(users),
                "rank": rng.choice(["platinum", "gold", "silver", "bronze", "new"]), "tags": ["配送"] if index % 3 else [],
                "version": 1, "first_response_due_at": created + timedelta(hours=4),
                "resolution_due_at": created + timedelta(days=2), "first_response_breached": False,
                "resolution_breached": False, "first_response_warned": False, "resolution_warned": False,
                "sla_paused_business_s": 0, "waiting_since": created, "created_at": created, "updated_at": created,
                "last_message_at": created})
            if len(batch) == 5000:
                db.session.execute(insert(Ticket), batch)
                batch = []
        if batch:
            db.session.execute(insert(Ticket), batch)
        db.session.commit()
        with db.engine.begin() as conn:
            conn.execute(text("ANALYZE"))
        db.engine.dispose()
    return users


def plan(stack: Stack, user_id: int) -> list[str]:
    from sqlalchemy import text

    from extensions import db

    app = stack.app()
    sql = ("SELECT id FROM tickets WHERE assignee_id = :a AND status = :s ORDER BY id DESC LIMIT 51")
    with app.app_context():
        prefix = "EXPLAIN QUERY PLAN " if stack.backend == "sqlite" else "EXPLAIN "
        rows = db.session.execute(text(prefix + sql), {"a": user_id, "s": "open"}).all()
        db.engine.dispose()
    return [str(row[-1]) for row in rows]


def run(backend: str, total: int, requests_n: int) -> dict:
    stack = Stack(backend)
    try:
        began = time.perf_counter()
        users = seed(stack, total)
        seeded_s = time.perf_counter() - began
        url = stack.web()
        session = stack.login(url, "bench-lister")
        rng = random.Random(3)
        for _ in range(50):  # warm-up
            session.get(f"{url}/api/v1/tickets", params={"assignee": rng.choice(users), "status": "open"})
        latencies, sizes = [], []
        for index in range(requests_n):
            if index % 10 == 9:
                params = {"assignee": "none", "status": "new"}
            else:
                params = {"assignee": rng.choice(users), "status": rng.choice(["open", "new,open", "pending"])}
            start = time.perf_counter()
            response = session.get(f"{url}/api/v1/tickets", params=params)
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text
            sizes.append(len(response.json()["items"]))
        return {"backend": backend, "tickets": total, "requests": requests_n, "seeded_s": seeded_s,
                "p50_ms": percentile(latencies, .5) * 1000, "p95_ms": percentile(latencies, .95) * 1000,
                "p99_ms": percentile(latencies, .99) * 1000, "avg_items": sum(sizes) / len(sizes),
                "plan": plan(stack, users[0])}
    finally:
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=2000)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        r = run(backend, args.tickets, args.requests)
        print(f"[{r['backend']}] GET /api/v1/tickets?assignee=ID&status=… over {r['tickets']:,} tickets "
              f"(50 operators, 5,000 customers; seeded in {r['seeded_s']:.0f} s), {r['requests']} requests, "
              f"{r['avg_items']:.0f} items/page: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
              f"p99 {r['p99_ms']:.1f} ms", flush=True)
        print(f"    plan: {' | '.join(r['plan'])}", flush=True)


if __name__ == "__main__":
    main()
