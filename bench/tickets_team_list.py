"""The "my team's" ticket list (issue 4 point 8): ``GET /api/v1/tickets?team=mine&status=…``
over 100,000 tickets, through gunicorn as ``./run.sh web`` runs it.

Dataset: ``bench/tickets_list.py``'s (5,000 customers, 50 operators, 100,000 tickets over
the operators and the six statuses), plus 10 teams of 5 operators; the lister is in one
team.  Requests: the page's default ("any active" = four statuses) and single statuses,
for ``team=mine`` and ``team=ID``; prints p50/p95/p99 and PostgreSQL's/SQLite's plan of
the list query (it must use ``ix_tickets_assignee_status_id``).

Usage: .venv/bin/python bench/tickets_team_list.py [--backends sqlite,postgresql] [--tickets 100000] [--requests 1000]
"""
from __future__ import annotations

import argparse
import random
import time

from tickets_harness import Stack, percentile
from tickets_list import seed

ACTIVE = "new,open,pending,on_hold"


def make_teams(stack: Stack, operators: list[int], lister_id: int) -> list[int]:
    from sqlalchemy import insert, select

    from accounts.models import Team, team_members
    from core.db import utcnow
    from extensions import db

    app = stack.app()
    with app.app_context():
        now = utcnow()
        db.session.execute(insert(Team), [{"name": f"チーム{i}", "description": "", "version": 1,
                                           "created_at": now, "updated_at": now} for i in range(10)])
        team_ids = list(db.session.scalars(select(Team.id).order_by(Team.id)))
        rows = [{"team_id": team_ids[i // 5], "user_id": user_id} for i, user_id in enumerate(operators[:50])]
        rows.append({"team_id": team_ids[0], "user_id": lister_id})
        db.session.execute(insert(team_members), rows)
        db.session.commit()
        db.engine.dispose()
    return team_ids


def plan(stack: Stack, lister_id: int) -> list[str]:
    """The plan of exactly the list endpoint's statement for ``team=mine`` + any active."""
    from sqlalchemy import text

    from extensions import db
    from tickets.models import Ticket
    from tickets.queries import list_statement

    class Lister:
        user_id = lister_id
        id = lister_id

    app = stack.app()
    with app.app_context():
        statement = list_statement({"team": "mine", "status": ACTIVE}, Lister())
        statement = statement.order_by(Ticket.id.desc()).limit(51)
        sql = str(statement.compile(db.engine, compile_kwargs={"literal_binds": True}))
        prefix = "EXPLAIN QUERY PLAN " if stack.backend == "sqlite" else "EXPLAIN (ANALYZE, COSTS OFF) "
        rows = db.session.execute(text(prefix + sql)).all()
        db.engine.dispose()
    return [str(row[-1]) for row in rows]


def run(backend: str, total: int, requests_n: int) -> dict:
    stack = Stack(backend)
    try:
        began = time.perf_counter()
        operators = seed(stack, total)
        url = stack.web()
        session = stack.login(url, "bench-team-lister")
        lister_id = session.get(f"{url}/api/v1/me").json()["id"]
        team_ids = make_teams(stack, operators, lister_id)
        seeded_s = time.perf_counter() - began
        rng = random.Random(5)
        for _ in range(50):  # warm-up
            session.get(f"{url}/api/v1/tickets", params={"team": "mine", "status": ACTIVE})
        latencies, sizes = [], []
        for index in range(requests_n):
            team = "mine" if index % 2 else str(rng.choice(team_ids))
            params = {"team": team, "status": rng.choice([ACTIVE, ACTIVE, "open", "new,open", "pending"])}
            start = time.perf_counter()
            response = session.get(f"{url}/api/v1/tickets", params=params)
            latencies.append(time.perf_counter() - start)
            assert response.status_code == 200, response.text
            sizes.append(len(response.json()["items"]))
        return {"backend": backend, "tickets": total, "requests": requests_n, "seeded_s": seeded_s,
                "p50_ms": percentile(latencies, .5) * 1000, "p95_ms": percentile(latencies, .95) * 1000,
                "p99_ms": percentile(latencies, .99) * 1000, "avg_items": sum(sizes) / len(sizes),
                "plan": plan(stack, lister_id)}
    finally:
        stack.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--tickets", type=int, default=100_000)
    parser.add_argument("--requests", type=int, default=1000)
    args = parser.parse_args()
    for backend in args.backends.split(","):
        r = run(backend, args.tickets, args.requests)
        print(f"[{r['backend']}] GET /api/v1/tickets?team=mine|ID&status=… over {r['tickets']:,} tickets "
              f"(50 operators in 10 teams of 5; seeded in {r['seeded_s']:.0f} s), {r['requests']} requests, "
              f"{r['avg_items']:.0f} items/page: p50 {r['p50_ms']:.1f} ms, p95 {r['p95_ms']:.1f} ms, "
              f"p99 {r['p99_ms']:.1f} ms", flush=True)
        print("    plan:\n      " + "\n      ".join(r["plan"]), flush=True)


if __name__ == "__main__":
    main()
