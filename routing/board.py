"""What supervisors see: operators with presence (and, with routing, load and capacity)."""
from __future__ import annotations

from sqlalchemy import select

from extensions import db
from routing.models import OperatorState

DEFAULT_CAPACITY = {"phone": 1, "email": 3, "web": 3, "chat": 2}


def operators() -> list[dict]:
    from accounts.models import User

    rows = db.session.execute(
        select(User, OperatorState).outerjoin(OperatorState, OperatorState.user_id == User.id)
        .where(User.active.is_(True)).order_by(User.tier.desc(), User.username)).all()
    items = []
    for user, state in rows:
        if not user.has_role("operator"):
            continue
        items.append({
            "id": user.id, "username": user.username, "name": user.display_name, "tier": user.tier,
            "skills": user.skills, "extension": user.extension,
            "presence": state.presence if state else "offline",
            "presence_since": state.presence_since.isoformat() if state else None,
            "load": {channel: 0 for channel in DEFAULT_CAPACITY},
            "capacity": dict(DEFAULT_CAPACITY),
        })
    return items
