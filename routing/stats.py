"""Queue and operator figures for supervisors (``GET /queues``, ``queue_stats``)."""
from __future__ import annotations

import hashlib
import json
import time
from datetime import timedelta
from functools import cache

from sqlalchemy import and_, bindparam, case, func, or_, select, text

from core.db import is_postgres, utcnow
from core.realtime import SUPERVISORS, push_now
from core.redis_conn import get_redis
from extensions import db
from routing import policy as P
from routing.models import OperatorState, RoutingEvent, WorkItem
from routing.store import policy_in_force

SLA_RISK_WINDOW = timedelta(minutes=15)
HISTORY_KEY = "tsunagu:queue-stats:history"
LAST_PUSH_KEY = "tsunagu:queue-stats:last"


LIVE_STATES = ("waiting", "offered", "assigned")  # an item's states before "done"
UNSOLVED = ("new", "open", "pending", "on_hold")  # a live item's ticket is in one of these


def queues() -> dict:
    """Per rank and channel: waiting, oldest wait, assigned, SLA at risk; plus totals.
    Both reads walk indexes over live rows only (done items and solved tickets pile up)."""
    from tickets.models import Ticket

    now = utcnow()
    cells = {(rank, channel): {"rank": rank, "channel": channel, "waiting": 0, "oldest_wait_s": 0,
                               "assigned": 0, "sla_at_risk": 0}
             for rank in P.RANK_ORDER for channel in P.CHANNELS}
    rows = db.session.connection().execute(
        select(WorkItem.rank, WorkItem.channel, WorkItem.state, func.count(), func.min(WorkItem.waiting_since))
        .where(WorkItem.state.in_(LIVE_STATES)).group_by(WorkItem.rank, WorkItem.channel, WorkItem.state))
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
    # From the tickets due soon (ix_tickets_status_*_due) to their live items.
    risky = db.session.connection().execute(
        select(WorkItem.rank, WorkItem.channel, func.count())
        .join_from(Ticket, WorkItem, WorkItem.ticket_id == Ticket.id)
        .where(Ticket.status.in_(UNSOLVED), WorkItem.state.in_(LIVE_STATES), or_(
            and_(Ticket.first_responded_at.is_(None), Ticket.first_response_due_at <= soon),
            Ticket.resolution_due_at <= soon))
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
    """Every operator with tier, skills, presence, time in state, load and capacity, by
    tier (highest first) and username.  The board asks for this every second, for every
    operator: PostgreSQL builds the list as one JSON document (turning 500 rows into
    Python objects one by one costs several times more); elsewhere it is built here."""
    capacity = dict(policy_in_force()["capacity"])
    if is_postgres(db.session):
        document = db.session.connection().execute(_operators_as_json(), {"capacity": json.dumps(capacity)}).scalar()
        return json.loads(document)
    return operators_built_here(capacity)


def operators_built_here(capacity: dict) -> list[dict]:
    """``operators`` from plain rows (``capacity``: the same for all, one copy shared)."""
    from accounts.models import User, effective_roles

    load_columns = [getattr(OperatorState, f"load_{channel}") for channel in P.CHANNELS]
    rows = db.session.connection().execute(
        select(User.id, User.username, User.name, User.tier, User.skills, User.extension, User.roles_csv,
               OperatorState.presence, OperatorState.presence_since, *load_columns)
        .outerjoin(OperatorState, OperatorState.user_id == User.id)
        .where(User.active.is_(True)).order_by(User.tier.desc(), User.username))
    takes_work: dict[str, bool] = {}  # by roles column: a handful of distinct values
    result = []
    for (user_id, username, name, tier, skills, extension, roles_csv, presence, since,
         phone, email, web, chat) in rows:
        works = takes_work.get(roles_csv)
        if works is None:
            works = takes_work[roles_csv] = "operator" in effective_roles(set(roles_csv.split(",")))
        if not works:
            continue
        result.append({
            "id": user_id, "username": username, "name": name or username, "tier": tier,
            "skills": skills or [], "extension": extension, "presence": presence or "offline",
            "presence_since": since.isoformat() if since else None,
            "load": {"phone": phone or 0, "email": email or 0, "web": web or 0, "chat": chat or 0},
            "capacity": capacity,
        })
    return result


@cache
def _operators_as_json():
    """The same list as ``operators_built_here``, field for field: the roles that include
    "operator" (accounts.models.IMPLIED; no role name is part of another), times as
    Python's isoformat of a UTC time writes them (no fraction when it is zero)."""
    from accounts.models import IMPLIED

    takes_work = " OR ".join(f"u.roles LIKE '%{role}%'" for role, granted in sorted(IMPLIED.items())
                             if "operator" in granted)
    return text(_OPERATORS_AS_JSON.replace("{takes_work}", takes_work))


_OPERATORS_AS_JSON = """
SELECT coalesce(json_agg(json_build_object(
    'id', u.id, 'username', u.username, 'name', coalesce(nullif(u.name, ''), u.username), 'tier', u.tier,
    'skills', CASE WHEN json_typeof(u.skills) = 'array' THEN u.skills ELSE '[]'::json END,
    'extension', u.extension, 'presence', coalesce(s.presence, 'offline'),
    'presence_since', to_char(s.presence_since, 'YYYY-MM-DD"T"HH24:MI:SS')
        || CASE WHEN date_part('microseconds', s.presence_since)::integer % 1000000 = 0
                THEN '' ELSE to_char(s.presence_since, '.US') END || '+00:00',
    'load', json_build_object('phone', coalesce(s.load_phone, 0), 'email', coalesce(s.load_email, 0),
                              'web', coalesce(s.load_web, 0), 'chat', coalesce(s.load_chat, 0)),
    'capacity', CAST(:capacity AS json)
) ORDER BY u.tier DESC, u.username), '[]')::text
FROM users u LEFT JOIN operator_states s ON s.user_id = u.id
WHERE u.active AND ({takes_work})
"""


@cache
def _service_level_statement():
    """Counted by the database: the queue-stats job runs this every second, and an hour of
    assignments under load is 100,000 events (read as objects, they grew the worker)."""
    wait = RoutingEvent.detail["wait_s"].as_float()
    return (select(func.count(wait).label("answered"),
                   func.count(case((wait <= bindparam("target_s"), 1))).label("within"))
            .where(RoutingEvent.at >= bindparam("since"), RoutingEvent.kind == "assigned"))


SERVICE_LEVEL_EVERY_S = 10  # an hour's share does not need recounting every second


def service_level(window: timedelta = timedelta(hours=1), target_s: int = 30) -> dict:
    """Share of items answered (accepted/assigned) within ``target_s`` of waiting, last hour
    (counted at most every ``SERVICE_LEVEL_EVERY_S`` across all processes)."""
    client = get_redis()
    key = f"tsunagu:routing:service-level:{int(window.total_seconds())}:{target_s}"
    if (cached := client.get(key)) is not None:
        return json.loads(cached)
    counts = db.session.execute(_service_level_statement(),
                                {"since": utcnow() - window, "target_s": target_s}).one()
    figure = {"answered": counts.answered, "within_target": counts.within, "target_s": target_s,
              "share": round(counts.within / counts.answered, 4) if counts.answered else None}
    client.set(key, json.dumps(figure), ex=SERVICE_LEVEL_EVERY_S)
    return figure


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

