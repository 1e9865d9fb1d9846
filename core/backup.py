"""Backup and restore of the embedded SQLite database (PostgreSQL: pg_dump, see README)."""
from __future__ import annotations

import sqlite3
from pathlib import Path

from sqlalchemy.engine import make_url


def sqlite_path(database_uri: str) -> Path:
    url = make_url(database_uri)
    if url.get_backend_name() != "sqlite" or not url.database:
        raise ValueError("backup/restore here is for the SQLite database; use pg_dump/pg_restore for PostgreSQL")
    return Path(url.database)


def backup(database_uri: str, target: Path) -> int:
    """A consistent online copy (SQLite's backup API, safe while the app runs); returns bytes."""
    source = sqlite3.connect(sqlite_path(database_uri))
    target.parent.mkdir(parents=True, exist_ok=True)
    copy = sqlite3.connect(target)
    try:
        with copy:
            source.backup(copy)
    finally:
        copy.close()
        source.close()
    return target.stat().st_size


def restore(database_uri: str, source_file: Path) -> int:
    """Replace the database with a backup (stop the app first); returns bytes."""
    check = sqlite3.connect(source_file)
    try:
        if check.execute("PRAGMA integrity_check").fetchone()[0] != "ok":
            raise ValueError(f"{source_file} is not a sound SQLite database")
        if not check.execute("SELECT name FROM sqlite_master WHERE name = 'alembic_version'").fetchone():
            raise ValueError(f"{source_file} is not a Tsunagu backup (no alembic_version)")
        destination = sqlite3.connect(sqlite_path(database_uri))
        try:
            with destination:
                check.backup(destination)
        finally:
            destination.close()
    finally:
        check.close()
    return sqlite_path(database_uri).stat().st_size
