"""Demo teams of the demo agents (console.demo creates the users first)."""
from __future__ import annotations

from sqlalchemy import select

from accounts import teams
from accounts.models import Team, User
from extensions import db

# name, description, usernames (those missing are left out)
DEMO_TEAMS = [
    ("一次対応", "電話・メールの最初の窓口", ("operator", "junior")),
    ("エスカレーション", "上級対応とプラチナ会員のお問い合わせ", ("senior", "operator", "supervisor")),
]


def seed(customer_count: int = 0) -> list[str]:
    """Create the demo teams that do not exist yet; idempotent."""
    lines = []
    for name, description, usernames in DEMO_TEAMS:
        if db.session.scalar(select(Team.id).where(Team.name == name)) is not None:
            continue
        member_ids = list(db.session.scalars(select(User.id).where(User.username.in_(usernames))))
        teams.create(name, description, member_ids)
        lines.append(f"  team {name}: {', '.join(usernames)}")
    return lines
