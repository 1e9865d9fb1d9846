"""Demo data: a team of operators at every tier plus the other roles.

Each domain adds its own demo data here as it lands (customers, manuals…).
"""
from __future__ import annotations

from sqlalchemy import func, select

from extensions import db

DEMO_PASSWORD = "tsunagu-demo"
DEMO_USERS = [
    # username, roles, tier, skills, extension, display name
    ("admin", "admin", 3, "ja,en", "200", "管理者 太郎"),
    ("supervisor", "supervisor", 3, "ja,en,billing", "210", "監督 花子"),
    ("senior", "operator", 3, "ja,en,billing", "201", "上級 一郎"),
    ("operator", "operator", 2, "ja,billing", "202", "中堅 次郎"),
    ("junior", "operator", 1, "ja", "203", "新人 三郎"),
    ("editor", "editor", 1, "ja,en", None, "編集 四郎"),
]


def database_is_empty() -> bool:
    from accounts.models import User

    return db.session.scalar(select(func.count()).select_from(User)) == 0


def seed_users() -> list[str]:
    from accounts.service import create_user, find_user

    lines = []
    for username, roles, tier, skills, extension, name in DEMO_USERS:
        if find_user(username) is None:
            create_user(username, DEMO_PASSWORD, roles, tier=tier, skills=skills.split(","),
                        extension=extension, name=name)
        lines.append(f"  {username:<11} / {DEMO_PASSWORD}   ({roles}, tier {tier})")
    db.session.commit()
    return lines


def existing_logins() -> list[str]:
    """The demo logins that still exist (printed on every start)."""
    from accounts.service import find_user

    present = [row for row in DEMO_USERS if find_user(row[0]) is not None]
    if not present:
        return []
    return ["Demo logins (username / password):"] + [
        f"  {username:<11} / {DEMO_PASSWORD}   ({roles}, tier {tier})"
        for username, roles, tier, *_ in present]


def seed(customer_count: int = 300) -> list[str]:
    lines = ["Demo logins (username / password):"]
    lines += seed_users()
    import accounts.demo
    import customers.demo
    import knowledge.demo
    import tickets.demo

    for domain in (accounts.demo, customers.demo, knowledge.demo, tickets.demo):
        lines += domain.seed(customer_count)
        db.session.commit()
    return lines
