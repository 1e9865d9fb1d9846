"""Shared bench plumbing: a fresh database (SQLite file or PostgreSQL), a private Redis,
and a migrated app.  Benches run against the real code paths, never mocks."""
from __future__ import annotations

import os
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def fresh_database(backend: str) -> tuple[str, callable]:
    """A new empty database; returns (SQLAlchemy URL, drop function)."""
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="tsunagu-bench-")
        return f"sqlite:///{folder}/bench.db", lambda: None
    import psycopg

    name = f"tsunagu_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' LC_CTYPE 'C.UTF-8' LC_COLLATE 'C.UTF-8'")

    def drop():
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", drop


def make_app(database_url: str, redis_url: str | None = None):
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("TSUNAGU_INSTANCE", tempfile.mkdtemp(prefix="tsunagu-bench-inst-"))
    os.environ["TSUNAGU_DEMO"] = "0"
    if redis_url:
        os.environ["REDIS_URL"] = redis_url
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url})
    with app.app_context():
        upgrade(revision="heads")
    return app


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))
    return ordered[index]


def summary_ms(values: list[float]) -> str:
    return (f"p50 {percentile(values, .5) * 1000:.2f} ms, p95 {percentile(values, .95) * 1000:.2f} ms, "
            f"p99 {percentile(values, .99) * 1000:.2f} ms (n={len(values)})")


class Timer:
    def __enter__(self):
        self.start = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.elapsed = time.perf_counter() - self.start
