"""Shared plumbing of the console benches (connections, load): operators created in bulk,
logins over the real API, and the memory of process trees read from /proc."""
from __future__ import annotations

import os
from pathlib import Path

PASSWORD = "bench-password"


def bulk_users(app, prefix: str, count: int, roles: str, *, tiers: tuple[int, ...] = (3,),
               presence: str = "offline", extension_base: int | None = None) -> list[str]:
    """``count`` users with one shared password hash (hashing each would take minutes).
    The hash is a cheap PBKDF2 so that logging in 1,000 users does not dominate the run;
    login cost is not what these benches measure."""
    from werkzeug.security import generate_password_hash

    from accounts.models import User
    from core.db import utcnow
    from extensions import db
    from routing.models import OperatorState

    password_hash = generate_password_hash(PASSWORD, method="pbkdf2:sha256:1000")
    names = [f"{prefix}{i:04d}" for i in range(count)]
    now = utcnow()
    with app.app_context():
        db.session.execute(User.__table__.insert(), [
            {"username": name, "password_hash": password_hash, "name": f"Bench {name}", "roles": roles,
             "tier": tiers[i % len(tiers)], "skills": ["ja"], "active": True, "created_at": now, "version": 1,
             "extension": str(extension_base + i) if extension_base is not None else None}
            for i, name in enumerate(names)])
        ids = db.session.scalars(db.select(User.id).where(User.username.in_(names))).all()
        db.session.execute(OperatorState.__table__.insert(), [
            {"user_id": uid, "presence": presence, "presence_since": now, "idle_since": now, "version": 1}
            for uid in ids])
        db.session.commit()
    return names


async def login(http, url: str, username: str) -> tuple[str, str]:
    """POST /api/v1/auth/login → (Cookie header value, CSRF token)."""
    async with http.post(f"{url}/api/v1/auth/login", json={"username": username, "password": PASSWORD}) as answer:
        if answer.status != 200:
            raise RuntimeError(f"login {username}: HTTP {answer.status} {await answer.text()}")
        body = await answer.json()
        cookie = "; ".join(f"{name}={morsel.value}" for name, morsel in answer.cookies.items())
    return cookie, body["csrf_token"]


def _processes():
    """``(pid, command name, the stat fields after the name)`` of every process (/proc/*/stat;
    the name may hold spaces, so the fields are split after its closing parenthesis)."""
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        yield int(entry.name), stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()


def children(pid: int) -> list[int]:
    """Direct and indirect child processes of ``pid`` (from /proc/*/stat)."""
    parents: dict[int, list[int]] = {}
    for child, _name, fields in _processes():
        parents.setdefault(int(fields[1]), []).append(child)
    found, todo = [], [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def status(pid: int) -> dict:
    """VmRSS (KiB) and thread count of one process; zeros if it has gone."""
    values = {"rss_kb": 0, "threads": 0}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                values["rss_kb"] = int(line.split()[1])
            elif line.startswith("Threads:"):
                values["threads"] = int(line.split()[1])
    except OSError:
        pass
    return values


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of one process so far (0 if it has gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return 0.0
    fields = stat[stat.rindex(")") + 2:].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def postgres_cpu_seconds() -> float:
    """CPU time of the PostgreSQL server on this machine: every live ``postgres`` process,
    plus what the postmaster has reaped from exited backends (its children's times)."""
    ticks = sum(sum(int(value) for value in fields[11:15])
                for _pid, name, fields in _processes() if name == "postgres")
    return ticks / os.sysconf("SC_CLK_TCK")


def tree_status(pid: int) -> dict:
    """RSS and threads of a process and its children (gunicorn master + workers)."""
    members = [pid] + children(pid)
    parts = {p: status(p) for p in members}
    return {"rss_kb": sum(v["rss_kb"] for v in parts.values()),
            "threads": sum(v["threads"] for v in parts.values()), "parts": parts}


def load_average() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())
