"""Queue and operator figures for supervisors (``GET /queues``, ``queue_stats``)."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta

from sqlalchemy import and_, func, or_, select

from core.db import utcnow
from core.realtime import SUPERVISORS, push_now
from core.redis_conn import get_redis
from extensions import db
from routing import policy as P
from routing.models import OperatorState, RoutingEvent, WorkItem
from routing.store import policy_in_force

SLA_RISK_WINDOW = timedelta(minutes=15)
HISTORY_KEY = "tsunagu:queue-stats:history"
LAST_PUSH_KEY = "tsunagu:queue-stats:last"


def queues() -> dict:
    """Per rank and channel: waiting, oldest wait, assigned, SLA at risk; plus totals."""
    from tickets.models import Ticket

    now = utcnow()
    cells = {(rank, channel): {"rank": rank, "channel": channel, "waiting": 0, "oldest_wait_s": 0,
                               "assigned": 0, "sla_at_risk": 0}
             for rank in P.RANK_ORDER for channel in P.CHANNELS}
    rows = db.session.execute(
        select(WorkItem.rank, WorkItem.channel, WorkItem.state, func.count(), func.min(WorkItem.waiting_since))
        .where(WorkItem.state != "done").group_by(WorkItem.rank, WorkItem.channel, WorkItem.state))
    for rank, channel, state, count, oldest in rows:
        cell = cells.get((rank, channel))
        if cell is None:
            continue
        if state == "waiting":
            cell["waiting"] += count
            if oldest is not None:
                cell["oldest_wait_s"] = max(cell["oldest_wait_s"], int((now - oldest).total_seconds()))
        else:
            cell["assigned"] += count
    soon = now + SLA_RISK_WINDOW
    risky = db.session.execute(
        select(WorkItem.rank, WorkItem.channel, func.count())
        .join(Ticket, Ticket.id == WorkItem.ticket_id)
        .where(WorkItem.state != "done", or_(
            and_(Ticket.first_responded_at.is_(None), Ticket.first_response_due_at.is_not(None),
                 Ticket.first_response_due_at <= soon),
            and_(Ticket.resolution_due_at.is_not(None), Ticket.resolution_due_at <= soon)))
        .group_by(WorkItem.rank, WorkItem.channel))
    for rank, channel, count in risky:
        if (rank, channel) in cells:
            cells[(rank, channel)]["sla_at_risk"] = count
    items = list(cells.values())
    totals = {"waiting": sum(c["waiting"] for c in items), "assigned": sum(c["assigned"] for c in items),
              "sla_at_risk": sum(c["sla_at_risk"] for c in items),
              "oldest_wait_s": max((c["oldest_wait_s"] for c in items), default=0)}
    return {"items": items, "next_cursor": None, "totals": totals}


def operators() -> list[dict]:
    """Every operator with tier, skills, presence, time in state, load and capacity
    (plain columns, no ORM objects: the board asks for this every second)."""
    from accounts.models import User, effective_roles

    policy = policy_in_force()
    load_columns = [getattr(OperatorState, f"load_{channel}") for channel in P.CHANNELS]
    rows = db.session.execute(
        select(User.id, User.username, User.name, User.tier, User.skills, User.extension, User.roles_csv,
               OperatorState.presence, OperatorState.presence_since, *load_columns)
        .outerjoin(OperatorState, OperatorState.user_id == User.id)
        .where(User.active.is_(True)).order_by(User.tier.desc(), User.username))
    result = []
    for row in rows:
        if "operator" not in effective_roles(set(row.roles_csv.split(","))):
            continue
        load = {channel: count or 0 for channel, count in zip(P.CHANNELS, row[9:], strict=True)}
        result.append({
            "id": row.id, "username": row.username, "name": row.name or row.username, "tier": row.tier,
            "skills": row.skills or [], "extension": row.extension, "presence": row.presence or "offline",
            "presence_since": row.presence_since.isoformat() if row.presence_since else None,
            "load": load, "capacity": dict(policy["capacity"]),
        })
    return result


def service_level(window: timedelta = timedelta(hours=1), target_s: int = 30) -> dict:
    """Share of items answered (accepted/assigned) within ``target_s`` of waiting, last hour."""
    since = utcnow() - window
    waits = [e.detail.get("wait_s") for e in db.session.scalars(
        select(RoutingEvent).where(RoutingEvent.at >= since, RoutingEvent.kind == "assigned"))]
    waits = [w for w in waits if isinstance(w, (int, float))]
    within = sum(1 for w in waits if w <= target_s)
    return {"answered": len(waits), "within_target": within, "target_s": target_s,
            "share": round(within / len(waits), 4) if waits else None}


def history() -> list[dict]:
    """Waiting totals sampled once a minute over the last hour (for the chart)."""
    raw = get_redis().lrange(HISTORY_KEY, 0, 59)
    return [json.loads(x) for x in reversed(raw)]


def _sample(totals: dict) -> None:
    client = get_redis()
    minute = int(time.time() // 60)
    if client.set(f"{HISTORY_KEY}:minute:{minute}", "1", nx=True, ex=120):
        client.lpush(HISTORY_KEY, json.dumps({"t": minute * 60, "waiting": totals["waiting"],
                                              "assigned": totals["assigned"]}))
        client.ltrim(HISTORY_KEY, 0, 59)


def push_if_changed() -> bool:
    """Push ``queue_stats`` to supervisors if the figures changed (at most once a second:
    this runs from the once-a-second periodic job)."""
    client = get_redis()
    body = queues()
    _sample(body["totals"])
    body["operators"] = operators()  # so the board needs no extra request per push
    digest = hashlib.sha1(json.dumps(body, sort_keys=True).encode()).hexdigest()
    if client.set(LAST_PUSH_KEY, digest, ex=3600, get=True) == digest.encode():
        return False
    body["service_level"] = service_level()
    body["history"] = history()
    push_now("queue_stats", body, SUPERVISORS)
    return True


def retry_waiting(limit: int = 200) -> int:
    """Route waiting items again (in service order); returns how many got someone."""
    from routing.engine import route

    ids = db.session.scalars(select(WorkItem.id).where(WorkItem.state == "waiting")
                             .order_by(WorkItem.priority_order, WorkItem.rank_order, WorkItem.waiting_since)
                             .limit(limit)).all()
    placed = 0
    for work_id in ids:
        if route(work_id) in ("offered", "assigned"):
            placed += 1
    return placed
