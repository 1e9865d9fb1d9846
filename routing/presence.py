"""Operator presence: set from the console or the API, pushed to supervisors live.

An operator whose last console connection has been closed for longer than the grace
period, with no presence change since, goes ``offline`` (CONTRACT §8).
"""
from __future__ import annotations

from datetime import datetime, timedelta
from functools import cache

from blinker import signal
from flask import current_app
from sqlalchemy import bindparam, select, update

from core.db import get_for_update, is_postgres, utcnow
from core.errors import Invalid
from core.realtime import SUPERVISORS, push, user_room
from extensions import db
from routing.models import PRESENCES, OperatorState

# Sent after a presence change is flushed: routing offers waiting work to the newly available.
presence_changed = signal("presence-changed")


def state_of(user_id: int, *, lock: bool = False) -> OperatorState:
    if lock:
        state = get_for_update(db.session, OperatorState, user_id)
    else:
        state = db.session.get(OperatorState, user_id)
    if state is None:
        state = OperatorState(user_id=user_id, presence="offline", presence_since=utcnow(), **_held_by(user_id))
        db.session.add(state)
        db.session.flush()
    return state


def _held_by(user_id: int) -> dict:
    """Load counters for a new presence row (work may have been assigned by hand before)."""
    from sqlalchemy import func

    from routing.models import WorkItem

    counts = dict(db.session.execute(
        select(WorkItem.channel, func.count()).where(WorkItem.operator_id == user_id,
                                                     WorkItem.state.in_(("offered", "assigned")))
        .group_by(WorkItem.channel)).all())
    from routing.policy import CHANNELS

    loads = {f"load_{channel}": counts.get(channel, 0) for channel in CHANNELS}
    return {**loads, "load_total": sum(counts.values())}


def as_event(user, state: OperatorState) -> dict:
    return _event(user, state.presence, state.presence_since)


def _event(user, presence: str, since: datetime) -> dict:
    return {"user_id": user.id, "username": user.username, "name": user.display_name, "presence": presence,
            "presence_since": since.isoformat()}


def set_presence(user, presence: str, **columns) -> OperatorState:
    """Set ``user``'s presence (no-op if unchanged) and announce it after commit;
    ``columns``: other columns of the state set with it (in the same statement)."""
    if presence not in PRESENCES:
        raise Invalid(f"presence must be one of {', '.join(PRESENCES)}.",
                      fields={"presence": [f"one of {', '.join(PRESENCES)}"]})
    state = state_of(user.id, lock=True)
    for name, value in columns.items():
        setattr(state, name, value)
    if state.presence != presence:
        previous = state.presence
        state.presence = presence
        state.presence_since = utcnow()
        state.version += 1
        db.session.flush()
        _announce(user, presence, state.presence_since, previous)
    return state


def _announce(user, presence: str, since: datetime, previous: str) -> None:
    """After a change is written: supervisors and the operator's consoles see it (at
    commit), and routing hears of it."""
    event = _event(user, presence, since)
    push("operator_presence", event, SUPERVISORS)
    push("operator_presence", event, user_room(user.id))
    presence_changed.send(current_app._get_current_object(), user_id=user.id, previous=previous, presence=presence)


@cache
def _end_wrap_ups_statement(postgres: bool):
    states = OperatorState.__table__
    due = (states.c.presence == "wrap_up", states.c.wrap_up_until.is_not(None),
           states.c.wrap_up_until <= bindparam("now", type_=states.c.wrap_up_until.type))
    chosen = select(states.c.user_id).where(*due)
    if postgres:  # a row someone holds now (a presence change) is simply done next second
        chosen = chosen.with_for_update(skip_locked=True)
    return (update(states).where(states.c.user_id.in_(chosen.scalar_subquery()), *due)
            .values(presence="available", presence_since=bindparam("now"), wrap_up_until=None,
                    version=states.c.version + 1)
            .returning(states.c.user_id))


def end_wrap_ups() -> list[int]:
    """Operators whose wrap-up time is over go back to available: one statement for all of
    them (the once-a-second sweep; one locked read and write per operator took seconds
    under load, and everyone it had not reached yet stayed in wrap-up)."""
    from accounts.service import load_user

    now = utcnow()
    user_ids = list(db.session.execute(_end_wrap_ups_statement(is_postgres(db.session)), {"now": now}).scalars())
    for user_id in user_ids:
        user = load_user(user_id)
        if user is not None:
            _announce(user, "available", now, "wrap_up")
    return user_ids


def connected(user_id: int) -> None:
    state = state_of(user_id)
    state.disconnected_at = None


def disconnected(user_id: int) -> None:
    state_of(user_id).disconnected_at = utcnow()


def sweep_offline(grace_s: int) -> list[int]:
    """Operators gone longer than ``grace_s`` with no presence change since → offline."""
    from accounts.models import User

    cutoff = utcnow() - timedelta(seconds=grace_s)
    stale = db.session.scalars(
        select(OperatorState).where(OperatorState.disconnected_at.is_not(None),
                                    OperatorState.disconnected_at < cutoff,
                                    OperatorState.presence != "offline")).all()
    changed = []
    for state in stale:
        if state.presence_since > state.disconnected_at:
            continue  # changed (e.g. through the API) after the console closed: it stands
        user = db.session.get(User, state.user_id)
        set_presence(user, "offline")
        changed.append(state.user_id)
    return changed
