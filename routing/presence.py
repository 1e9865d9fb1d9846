"""Operator presence: set from the console or the API, pushed to supervisors live.

An operator whose last console connection has been closed for longer than the grace
period, with no presence change since, goes ``offline`` (CONTRACT §8).
"""
from __future__ import annotations

from datetime import timedelta

from blinker import signal
from flask import current_app
from sqlalchemy import select

from core.db import get_for_update, utcnow
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
    return {"user_id": user.id, "username": user.username, "name": user.display_name,
            "presence": state.presence, "presence_since": state.presence_since.isoformat()}


def set_presence(user, presence: str) -> OperatorState:
    """Set ``user``'s presence (no-op if unchanged) and announce it after commit."""
    if presence not in PRESENCES:
        raise Invalid(f"presence must be one of {', '.join(PRESENCES)}.",
                      fields={"presence": [f"one of {', '.join(PRESENCES)}"]})
    state = state_of(user.id, lock=True)
    if state.presence != presence:
        previous = state.presence
        state.presence = presence
        state.presence_since = utcnow()
        state.version += 1
        db.session.flush()
        event = as_event(user, state)
        push("operator_presence", event, SUPERVISORS)
        push("operator_presence", event, user_room(user.id))
        presence_changed.send(current_app._get_current_object(), user_id=user.id,
                              previous=previous, presence=presence)
    return state


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
