"""Teams: groups of agents (Zammad groups, Chatwoot teams).  Services flush; callers commit.

An operator's "my team's" ticket list shows the tickets assigned to anyone who shares
a team with them; ``teammate_ids`` answers that in one indexed query.
"""
from __future__ import annotations

from contextlib import contextmanager

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from accounts.models import Team, User, team_members
from core import audit
from core.db import get_for_update, utcnow
from core.errors import Conflict, Invalid, NotFound
from extensions import db


def get(team_id: int, *, lock: bool = False) -> Team:
    """The team (404 if none); ``lock`` for a read-decide-write such as a versioned change."""
    team = get_for_update(db.session, Team, team_id) if lock else db.session.get(Team, team_id)
    if team is None:
        raise NotFound("No such team.")
    return team


def create(name: str, description: str = "", member_ids=()) -> Team:
    """A new team; a name already taken (ignoring case) is a conflict."""
    name = _clean_name(name)
    _refuse_taken(name)
    team = Team(name=name, description=(description or "").strip(), members=_users(member_ids))
    with _unique_name(name):
        db.session.add(team)
    audit.record("team.create", detail={"team_id": team.id, "name": team.name,
                                        "member_ids": [u.id for u in team.members]})
    return team


def update(team: Team, changes: dict, expected_version: int | None = None) -> Team:
    """Rename, describe or set the members of ``team`` (optimistic: a stale version is 409)."""
    if expected_version is not None and expected_version != team.version:
        raise Conflict(f"The team changed since you loaded it (now version {team.version}).",
                       version=team.version)
    before = {"name": team.name, "member_ids": [u.id for u in team.members]}
    name = _clean_name(changes["name"]) if "name" in changes else team.name
    if name.lower() != team.name.lower():
        _refuse_taken(name)
    members = _users(changes["member_ids"]) if "member_ids" in changes else None
    with _unique_name(name):
        team.name = name
        if "description" in changes:
            team.description = (changes["description"] or "").strip()
        if members is not None:
            team.members = members
        team.version += 1
        team.updated_at = utcnow()
    audit.record("team.update", detail={"team_id": team.id, "before": before, "name": team.name,
                                        "member_ids": [u.id for u in team.members]})
    return team


def delete(team: Team, expected_version: int | None = None) -> None:
    if expected_version is not None and expected_version != team.version:
        raise Conflict(f"The team changed since you loaded it (now version {team.version}).",
                       version=team.version)
    audit.record("team.delete", detail={"team_id": team.id, "name": team.name,
                                        "member_ids": [u.id for u in team.members]})
    db.session.delete(team)
    db.session.flush()


def teammate_ids(user_id: int) -> list[int]:
    """Everyone sharing a team with ``user_id`` (themselves included when in a team)."""
    mine = select(team_members.c.team_id).where(team_members.c.user_id == user_id)
    return sorted(set(db.session.scalars(
        select(team_members.c.user_id).where(team_members.c.team_id.in_(mine)))))


def member_ids(team_id: int) -> list[int]:
    return sorted(db.session.scalars(select(team_members.c.user_id).where(team_members.c.team_id == team_id)))


def team_ids_by_user(user_ids) -> dict[int, list[int]]:
    """``{user_id: [team ids]}`` for a page of users, in one query."""
    found: dict[int, list[int]] = {user_id: [] for user_id in user_ids}
    if found:
        rows = db.session.execute(select(team_members.c.user_id, team_members.c.team_id)
                                  .where(team_members.c.user_id.in_(list(found)))
                                  .order_by(team_members.c.team_id))
        for user_id, team_id in rows:
            found[user_id].append(team_id)
    return found


def _clean_name(name) -> str:
    name = (name or "").strip()
    if not name or len(name) > 80:
        raise Invalid("A team name of 1–80 characters is required.", fields={"name": ["1–80 characters"]})
    return name


def _refuse_taken(name: str) -> None:
    if db.session.scalar(select(Team.id).where(func.lower(Team.name) == name.lower())) is not None:
        raise Conflict(f"A team named {name!r} already exists.")


def _users(ids) -> list[User]:
    wanted = sorted(set(ids or ()))
    if not wanted:
        return []
    users = list(db.session.scalars(select(User).where(User.id.in_(wanted)).order_by(User.id)))
    unknown = sorted(set(wanted) - {u.id for u in users})
    if unknown:
        raise Invalid(f"No such user(s): {', '.join(map(str, unknown))}.",
                      fields={"member_ids": [f"unknown user id {i}" for i in unknown]})
    return users


@contextmanager
def _unique_name(name: str):
    """Apply changes and flush them in a savepoint: if a concurrent request took the name
    first, the unique index refuses ours — the same 409 as the check above, not a 500."""
    try:
        with db.session.begin_nested():
            yield
            db.session.flush()
    except IntegrityError:
        raise Conflict(f"A team named {name!r} already exists.") from None
