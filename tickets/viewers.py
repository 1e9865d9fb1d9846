"""Who is looking at a ticket, and who is typing (collision detection), kept in Redis so
every web process sees the same viewers.

Entries are per connection (``sid``) so a second tab leaving does not hide the first;
each carries a timestamp, and entries not refreshed within ``STALE_S`` (a process that
died without a disconnect) drop out.  The console namespace calls these functions and
broadcasts ``ticket_viewers {ticket_id, viewers}`` to ``core.realtime.ticket_room``.
"""
from __future__ import annotations

import json
import time

from core.realtime import push_now, ticket_room
from core.redis_conn import get_redis

STALE_S = 180  # the page re-announces itself every 60 s
TTL_S = 3600


def _key(ticket_id: int) -> str:
    return f"tsunagu:viewers:{int(ticket_id)}"


def _mine(user_id: int) -> str:
    return f"tsunagu:viewing:{int(user_id)}"


def _field(user, sid: str | None) -> str:
    return f"{user.id}:{sid or '-'}"


def viewers(ticket_id: int) -> list[dict]:
    """``[{id, name, typing}]``, one per user, in the order they arrived."""
    redis = get_redis()
    entries = redis.hgetall(_key(ticket_id))
    now = time.time()
    people: dict[int, dict] = {}
    stale = []
    for field, raw in entries.items():
        entry = json.loads(raw)
        if now - entry["at"] > STALE_S:
            stale.append(field)
            continue
        person = people.setdefault(entry["id"], {"id": entry["id"], "name": entry["name"], "typing": False,
                                                 "_since": entry["since"]})
        person["typing"] = person["typing"] or entry["typing"]
        person["_since"] = min(person["_since"], entry["since"])
    if stale:
        redis.hdel(_key(ticket_id), *stale)
    ordered = sorted(people.values(), key=lambda p: (p["_since"], p["id"]))
    return [{"id": p["id"], "name": p["name"], "typing": p["typing"]} for p in ordered]


def _write(user, ticket_id: int, sid: str | None, typing: bool | None) -> None:
    redis = get_redis()
    key, field = _key(ticket_id), _field(user, sid)
    previous = redis.hget(key, field)
    now = time.time()
    entry = json.loads(previous) if previous else {"id": user.id, "name": user.display_name, "typing": False,
                                                   "since": now}
    entry["at"] = now
    if typing is not None:
        entry["typing"] = bool(typing)
    pipe = redis.pipeline()
    pipe.hset(key, field, json.dumps(entry))
    pipe.expire(key, TTL_S)
    pipe.sadd(_mine(user.id), f"{int(ticket_id)}:{sid or '-'}")
    pipe.expire(_mine(user.id), TTL_S)
    pipe.execute()


def view(user, ticket_id: int, sid: str | None = None) -> list[dict]:
    """``user`` (this connection) views the ticket (call again to stay listed)."""
    _write(user, ticket_id, sid, None)
    return viewers(ticket_id)


def typing(user, ticket_id: int, is_typing: bool, sid: str | None = None) -> list[dict]:
    _write(user, ticket_id, sid, bool(is_typing))
    return viewers(ticket_id)


def leave(user, ticket_id: int, sid: str | None = None) -> list[dict]:
    """This connection (or, without ``sid``, every connection of ``user``) leaves."""
    redis = get_redis()
    key = _key(ticket_id)
    if sid is not None:
        fields = [_field(user, sid)]
    else:
        fields = [f for f in redis.hkeys(key) if f.decode().startswith(f"{user.id}:")]
    if fields:
        redis.hdel(key, *fields)
    members = [f"{int(ticket_id)}:{f.decode().split(':', 1)[1] if isinstance(f, bytes) else f.split(':', 1)[1]}"
               for f in fields]
    if members:
        redis.srem(_mine(user.id), *members)
    return viewers(ticket_id)


def leave_all(user, sid: str | None = None) -> dict[int, list[dict]]:
    """On disconnect: leave every ticket this connection (or user) viewed; returns
    ``{ticket_id: viewers}`` for the tickets to broadcast."""
    redis = get_redis()
    result: dict[int, list[dict]] = {}
    for member in redis.smembers(_mine(user.id)):
        ticket_part, _, member_sid = member.decode().partition(":")
        if sid is not None and member_sid != sid:
            continue
        result[int(ticket_part)] = leave(user, int(ticket_part), None if sid is None else sid)
    return result


def broadcast(ticket_id: int, people: list[dict] | None = None) -> None:
    """Emit ``ticket_viewers`` to everyone in the ticket's room now."""
    people = viewers(ticket_id) if people is None else people
    push_now("ticket_viewers", {"ticket_id": int(ticket_id), "viewers": people}, ticket_room(ticket_id))


def socket_event(kind: str, data) -> dict:
    """A ``view_ticket`` / ``leave_ticket`` / ``typing`` event from the ``/console``
    namespace: join or leave the ticket's room, update the viewers, broadcast them.
    Returns the acknowledgement (``{ticket_id, viewers}`` or an ``error``)."""
    from flask import request
    from flask_login import current_user
    from flask_socketio import join_room, leave_room

    from extensions import db
    from tickets.models import Ticket

    ticket_id = data.get("ticket_id") if isinstance(data, dict) else None
    if not isinstance(ticket_id, int) or isinstance(ticket_id, bool) or not 0 < ticket_id < 2**31:
        return {"error": {"code": "validation_error", "message": "ticket_id must be a ticket's id"}}
    if not (current_user.is_authenticated and current_user.has_role("operator")):
        return {"error": {"code": "forbidden", "message": "not allowed"}}
    sid = request.sid
    if kind == "leave":
        people = leave(current_user, ticket_id, sid)
        leave_room(ticket_room(ticket_id))
    else:
        exists = db.session.get(Ticket, ticket_id) is not None
        db.session.rollback()  # end the read; nothing to write
        if not exists:
            return {"error": {"code": "not_found", "message": "No such ticket."}}
        if kind == "typing":
            people = typing(current_user, ticket_id, bool(data.get("typing")), sid)
        else:
            join_room(ticket_room(ticket_id))
            people = view(current_user, ticket_id, sid)
    broadcast(ticket_id, people)
    return {"ticket_id": ticket_id, "viewers": people}


def socket_disconnect() -> None:
    """On disconnect: this connection leaves every ticket it viewed (others are told)."""
    from flask import request
    from flask_login import current_user

    if not current_user.is_authenticated or current_user.user_id is None:
        return
    for ticket_id, people in leave_all(current_user, request.sid).items():
        broadcast(ticket_id, people)
