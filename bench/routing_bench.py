"""Routing figures (issue 5): 500 operators, 10,000 waiting items.

* routing decision latency (snapshot, policy, atomic claim, commit) p50/p95/p99;
* sustained assignments/s with 4 concurrent routing processes (one database);
* supervisor stats (GET /queues + /operators figures) p95.

Usage: .venv/bin/python bench/routing_bench.py [sqlite|postgresql] [--operators 500 --items 10000]
"""
from __future__ import annotations

import argparse
import multiprocessing
import os
import random
import time
from datetime import timedelta

from _setup import Timer, fresh_database, make_app, summary_ms

RANKS = ["platinum", "gold", "silver", "bronze", "new"]
CHANNELS = ["email", "web", "chat", "phone"]


def build_dataset(app, operators: int, items: int) -> None:
    """Bulk rows through SQLAlchemy Core: users, presence, customers, tickets, work items."""
    from werkzeug.security import generate_password_hash

    from accounts.models import User
    from core.db import utcnow
    from customers.models import Customer
    from extensions import db
    from routing import policy as P
    from routing.models import OperatorState, WorkItem
    from tickets.models import Ticket

    now = utcnow()
    password = generate_password_hash("bench-password")
    with app.app_context():
        db.session.execute(User.__table__.insert(), [
            {"username": f"op{i:04d}", "password_hash": password, "name": f"Operator {i}", "roles": "operator",
             "tier": 1 + i % 3, "skills": ["ja"] + (["en"] if i % 4 == 0 else []), "active": True,
             "created_at": now, "version": 1} for i in range(operators)])
        user_ids = db.session.scalars(db.select(User.id)).all()
        db.session.execute(OperatorState.__table__.insert(), [
            {"user_id": uid, "presence": "available", "presence_since": now, "idle_since": now - timedelta(seconds=uid),
             "version": 1} for uid in user_ids])
        db.session.execute(Customer.__table__.insert(), [
            {"name": f"顧客{i}", "rank_computed": RANKS[i % 5], "dm_opt_in": False, "tags": [], "frequency": 0,
             "monetary": 0, "ltv": 0, "version": 1, "created_at": now, "updated_at": now} for i in range(1000)])
        customer_ids = db.session.scalars(db.select(Customer.id)).all()
        rng = random.Random(7)
        ticket_rows = []
        for i in range(items):
            ticket_rows.append({"subject": f"bench {i}", "status": "new", "priority": rng.choice(["low", "normal", "normal", "high", "urgent"]),
                                "channel": CHANNELS[i % 4], "customer_id": customer_ids[i % 1000], "rank": RANKS[i % 5],
                                "tags": [], "version": 1, "waiting_since": now - timedelta(seconds=rng.randint(0, 3000)),
                                "created_at": now, "updated_at": now})
        for start in range(0, items, 2000):
            db.session.execute(Ticket.__table__.insert(), ticket_rows[start:start + 2000])
        tickets = db.session.execute(db.select(Ticket.id, Ticket.channel, Ticket.rank, Ticket.priority, Ticket.waiting_since)).all()
        work_rows = [{"ticket_id": t.id, "channel": t.channel, "rank": t.rank, "priority": t.priority,
                      "rank_order": P.RANK_ORDER.index(t.rank), "priority_order": P.PRIORITY_ORDER.index(t.priority),
                      "skills": [], "state": "waiting", "waiting_since": t.waiting_since, "version": 1} for t in tickets]
        for start in range(0, len(work_rows), 2000):
            db.session.execute(WorkItem.__table__.insert(), work_rows[start:start + 2000])
        db.session.commit()


def waiting_ids(app) -> list[int]:
    from extensions import db
    from routing.models import WorkItem

    with app.app_context():
        return db.session.scalars(db.select(WorkItem.id).where(WorkItem.state == "waiting")
                                  .order_by(WorkItem.priority_order, WorkItem.rank_order, WorkItem.waiting_since)).all()


def _backend_cpu_s() -> float | None:
    """CPU seconds used so far by this session's PostgreSQL backend (a local server's
    /proc), None on SQLite or when it cannot be read."""
    from extensions import db

    if db.engine.dialect.name != "postgresql":
        return None
    pid = db.session.execute(db.text("SELECT pg_backend_pid()")).scalar()
    db.session.commit()
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime + stime
    except OSError:
        return None


def _worker(database_url: str, redis_url: str, ids: list[int], ready, go, out) -> None:
    from _setup import make_app as _make

    app = _make(database_url, redis_url)
    from routing import engine, jobs

    placed, last_placed_at = 0, None
    with app.app_context():
        server_before = _backend_cpu_s()
        batch = engine.route_batch_size()
        ready.release()
        go.wait()  # all routers start together, after their start-up
        cpu_before = time.process_time()
        # As the drain job of fresh items routes them: a batch per transaction.
        for start in range(0, len(ids), batch):
            states = jobs.route_together(ids[start:start + batch])
            done = sum(state in ("offered", "assigned") for state in states.values())
            if done:
                placed, last_placed_at = placed + done, time.time()
        cpu = time.process_time() - cpu_before
        server_after = _backend_cpu_s()
    server = server_after - server_before if server_before is not None and server_after is not None else None
    out.put((placed, last_placed_at, cpu, server))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", nargs="?", default="postgresql", choices=["sqlite", "postgresql"])
    parser.add_argument("--operators", type=int, default=500)
    parser.add_argument("--items", type=int, default=10_000)
    parser.add_argument("--decisions", type=int, default=1000)
    args = parser.parse_args()

    from core.redis_server import PrivateRedis

    redis = PrivateRedis()
    database_url, drop = fresh_database(args.backend)
    try:
        app = make_app(database_url, redis.url)
        with Timer() as setup:
            build_dataset(app, args.operators, args.items)
        from extensions import db

        if args.backend == "postgresql":
            with app.app_context():  # fresh statistics after the bulk load, as autovacuum would
                db.session.execute(db.text("ANALYZE"))
                db.session.commit()
        print(f"dataset: {args.operators} operators, {args.items} waiting items on {args.backend} "
              f"(built in {setup.elapsed:.1f} s)")
        from routing import engine, stats

        # Supervisor stats on the full queue.
        timings = []
        with app.app_context():
            for _ in range(50):
                with Timer() as t:
                    stats.queues()
                    stats.operators()
                timings.append(t.elapsed)
                db.session.rollback()
        print(f"supervisor stats (queues + operators): {summary_ms(timings)}")

        # The decision alone: item, policy, rejections, the choice of operator (no locks,
        # no writes) — engine.route without its claim.
        from core.db import utcnow
        from routing import store

        ids = waiting_ids(app)
        timings = []
        with app.app_context():
            for work_id in ids[:args.decisions]:
                with Timer() as t:
                    item = engine.waiting_item(work_id)
                    policy, excluded = store.policy_and_rejections(work_id)
                    engine.first_choice(item, policy, utcnow(), excluded)
                timings.append(t.elapsed)
                db.session.rollback()
        print(f"routing decision alone (choose the operator, no writes): {summary_ms(timings)}")

        # Decision latency, one router: route items in service order, commit each.
        timings = []
        with app.app_context():
            for work_id in ids[:args.decisions]:
                with Timer() as t:
                    engine.route(work_id)
                    db.session.commit()
                timings.append(t.elapsed)
        print(f"routing decision incl. claim and commit (single router): {summary_ms(timings)}")

        # Sustained throughput: 4 routing processes share the remaining items.
        with app.app_context():
            db.session.execute(db.text("UPDATE work_items SET state='waiting', operator_id=NULL WHERE state != 'waiting'"))
            db.session.execute(db.text("DELETE FROM offers"))
            db.session.execute(db.text("UPDATE tickets SET assignee_id=NULL"))
            db.session.execute(db.text("UPDATE operator_states SET load_phone=0, load_email=0, load_web=0, "
                                       "load_chat=0, load_total=0"))
            db.session.commit()
        ids = waiting_ids(app)
        chunks = [ids[i::4] for i in range(4)]
        queue: multiprocessing.Queue = multiprocessing.Queue()
        ready, go = multiprocessing.Semaphore(0), multiprocessing.Event()
        processes = [multiprocessing.Process(target=_worker, args=(database_url, redis.url, chunk, ready, go, queue))
                     for chunk in chunks]
        for process in processes:
            process.start()
        for _ in processes:
            ready.acquire()
        started = time.time()
        go.set()
        results = [queue.get() for _ in processes]
        for process in processes:
            process.join()
        elapsed = time.time() - started
        placed = sum(result[0] for result in results)
        # Capacity (operators × per-channel capacity) runs out before the items do; after
        # that every decision finds nobody.  The assignment rate is taken while it lasts.
        filled = max(result[1] for result in results if result[1] is not None) - started
        print(f"4 concurrent routers: {len(ids)} decisions in {elapsed:.2f} s = {len(ids) / elapsed:.0f} decisions/s; "
              f"{placed} assignments/offers in the first {filled:.2f} s (until capacity was full) "
              f"= {placed / filled:.0f} assignments/s")
        # The machine may be shared: CPU per decision says what the cores could sustain.
        routers_cpu = sum(result[2] for result in results)
        servers = [result[3] for result in results]
        server_cpu = sum(servers) if all(s is not None for s in servers) else None
        line = f"  CPU per decision: routers {routers_cpu / len(ids) * 1000:.2f} ms"
        if server_cpu is not None:
            total = (routers_cpu + server_cpu) / len(ids)
            line += (f" + PostgreSQL backends {server_cpu / len(ids) * 1000:.2f} ms = {total * 1000:.2f} ms "
                     f"(at most {os.cpu_count() / total:.0f} decisions/s on {os.cpu_count()} cores)")
        print(line)
        with app.app_context():
            over = db.session.execute(db.text(
                "SELECT operator_id, channel, count(*) FROM work_items WHERE state IN ('offered','assigned') "
                "GROUP BY operator_id, channel")).all()
            capacity = {"phone": 1, "email": 3, "web": 3, "chat": 2}
            violations = [row for row in over if row[2] > capacity[row[1]]]
        print(f"capacity violations after the run: {len(violations)}")
    finally:
        drop()
        redis.stop()


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    main()
