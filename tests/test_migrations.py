"""Migrations up and down from the first revision (issue 8 "Data safety"), on a fresh
database of the backend under test (SQLite file or a new PostgreSQL database), through the
real CLI: ``flask db upgrade heads`` → the schema matches the models (``flask db check``:
autogenerate finds nothing) → ``downgrade base`` leaves nothing behind → ``upgrade heads``
again → matches again.  Covers whatever revisions exist."""
from __future__ import annotations

import os
import subprocess
import tempfile
import uuid

import pytest
from sqlalchemy import create_engine, inspect, text

from tests.conftest import BACKEND, PG_ADMIN_URL, ROOT

FLASK = [str(ROOT / ".venv/bin/flask"), "--app", "app", "db"]


@pytest.fixture
def fresh_database():
    """The URL of a new, empty database of the backend under test; dropped afterwards."""
    if BACKEND == "sqlite":
        folder = tempfile.mkdtemp(prefix="tsunagu-migrations-")
        yield f"sqlite:///{folder}/migrations.db"
        return
    import psycopg

    name = f"tsunagu_migrations_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                     f"LC_CTYPE 'C.UTF-8' LC_COLLATE 'C.UTF-8'")
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    yield f"{base}/{name}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


def _db(url: str, redis_url: str, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": url, "REDIS_URL": redis_url, "TSUNAGU_DEMO": "0",
           "TSUNAGU_INSTANCE": tempfile.mkdtemp(prefix="tsunagu-migrations-inst-")}
    done = subprocess.run(FLASK + list(args), cwd=ROOT, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, f"flask db {' '.join(args)} failed:\n{done.stdout}\n{done.stderr}"
    return done.stdout + done.stderr


def _tables(url: str) -> set[str]:
    return set(_snapshot(url))


def _snapshot(url: str) -> dict:
    """Every table with its columns (name, type, nullable), indexes and foreign keys."""
    engine = create_engine(url)
    try:
        inspector = inspect(engine)
        return {table: ({(c["name"], str(c["type"]), c["nullable"]) for c in inspector.get_columns(table)},
                        {(i["name"], tuple(i["column_names"]), bool(i["unique"])) for i in inspector.get_indexes(table)},
                        {(f["referred_table"], tuple(f["constrained_columns"])) for f in inspector.get_foreign_keys(table)})
                for table in inspector.get_table_names()}
    finally:
        engine.dispose()


def _version(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(text("SELECT version_num FROM alembic_version")))
    finally:
        engine.dispose()


def _leftover_types(url: str) -> set[str]:
    """PostgreSQL enum types a downgrade forgot to drop (SQLite has none)."""
    if not url.startswith("postgresql"):
        return set()
    engine = create_engine(url)
    try:
        with engine.connect() as conn:
            return set(conn.scalars(text("SELECT t.typname FROM pg_type t JOIN pg_namespace n ON n.oid = t.typnamespace "
                                         "WHERE t.typtype = 'e' AND n.nspname = 'public'")))
    finally:
        engine.dispose()


def _scripts():
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    config = Config()
    config.set_main_option("script_location", str(ROOT / "migrations"))
    return ScriptDirectory.from_config(config)


def test_migrations_up_down_up_match_the_models(fresh_database, redis_url):
    import models  # noqa: F401  (registers every table of the models)
    from extensions import db

    expected = {table.name for table in db.metadata.sorted_tables}
    scripts = _scripts()
    assert "0001" in {revision.revision for revision in scripts.walk_revisions()}

    _db(fresh_database, redis_url, "upgrade", "heads")
    first = _snapshot(fresh_database)
    assert expected <= set(first)
    assert _version(fresh_database) == set(scripts.get_heads())

    _db(fresh_database, redis_url, "downgrade", "base")
    assert _tables(fresh_database) <= {"alembic_version"}, _tables(fresh_database)
    assert not _leftover_types(fresh_database)

    _db(fresh_database, redis_url, "upgrade", "heads")
    assert _snapshot(fresh_database) == first  # down and up again rebuilds the same schema
    _db(fresh_database, redis_url, "check")  # and autogenerate finds no difference with the models
