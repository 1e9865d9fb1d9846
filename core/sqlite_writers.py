"""SQLite writers take turns through a lock file instead of SQLite's busy handler.

SQLite has one writer at a time.  A connection that finds the write lock taken sleeps
in SQLite's busy handler for 1, 2, 5, 10, 15, 20, 25 … ms between attempts, so under a
steady load of short write transactions (web threads and processes, the worker, the
mail listener) a few writers keep losing and wait tens to hundreds of milliseconds while
the database sits idle.  Here every connection takes an exclusive ``flock`` on
``<database>-writers.lock`` just before the statement that begins its write transaction
(the first INSERT, UPDATE, DELETE or REPLACE, where sqlite3 issues its implicit BEGIN)
and drops it at commit or rollback.  Waiting writers poll the lock file every fraction
of a millisecond, so the next one starts as soon as the last one commits.  Reads never
take it (WAL readers do not block writers).

SQLite's automatic checkpoint runs inside COMMIT and would keep the turn while it copies
the WAL into the database (hundreds of milliseconds on a big file).  So it is switched
off.  Once the WAL has grown past ``CHECKPOINT_BYTES`` a commit asks this process's
checkpoint thread for one (PASSIVE: never waits, never blocks writers); the thread runs
it on its own connection, so no request waits for the copy either (the screen pop is
published right after its commit).
"""
from __future__ import annotations

import errno
import fcntl
import logging
import os
import sqlite3
import threading
import time

WRITE_VERBS = ("INSERT", "UPDATE", "DELETE", "REPLACE")
WAIT_LIMIT_S = 10.0  # as PRAGMA busy_timeout: then "database is locked", as without this
_POLL_S = (0.0001, 0.0002, 0.0005, 0.001)  # short first, never more than 1 ms
CHECKPOINT_BYTES = 4 * 1024 * 1024  # about SQLite's own threshold (1,000 pages)
log = logging.getLogger(__name__)


def _begins_write(sql: str) -> bool:
    return sql.lstrip()[:7].upper().startswith(WRITE_VERBS)


class TakingTurnsConnection(sqlite3.Connection):
    """``sqlite3.connect(path, factory=TakingTurnsConnection)``."""

    def __init__(self, database, *args, **kwargs):
        super().__init__(database, *args, **kwargs)
        path = os.fspath(database)
        in_memory = path == ":memory:" or path.startswith("file::memory:") or "mode=memory" in path
        self._turn_fd = None if in_memory else os.open(f"{path}-writers.lock", os.O_RDWR | os.O_CREAT, 0o600)
        self._has_turn = False
        self._path = path
        self._wal_path = None if in_memory else f"{path}-wal"
        if not in_memory:
            super().execute("PRAGMA wal_autocheckpoint=0")

    def take_turn(self) -> None:
        if self._turn_fd is None or self._has_turn:
            return
        deadline, attempt = time.monotonic() + WAIT_LIMIT_S, 0
        while True:
            try:
                fcntl.flock(self._turn_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                self._has_turn = True
                return
            except OSError as error:
                if error.errno not in (errno.EAGAIN, errno.EACCES):
                    raise
            if time.monotonic() > deadline:
                raise sqlite3.OperationalError("database is locked")
            time.sleep(_POLL_S[min(attempt, len(_POLL_S) - 1)])
            attempt += 1

    def end_turn(self) -> None:
        if self._has_turn:
            self._has_turn = False
            fcntl.flock(self._turn_fd, fcntl.LOCK_UN)

    def cursor(self, factory=None):
        return super().cursor(factory or TurnTakingCursor)

    # The C shortcuts would run the statement without the cursor's methods.
    def execute(self, sql, parameters=(), /):
        return self.cursor().execute(sql, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self.cursor().executemany(sql, seq_of_parameters)

    def commit(self):
        try:
            super().commit()
        finally:
            self.end_turn()
        self._checkpoint_if_large()

    def _checkpoint_if_large(self) -> None:
        try:
            large = self._wal_path is not None and os.stat(self._wal_path).st_size > CHECKPOINT_BYTES
        except OSError:  # no WAL (yet)
            return
        if large:
            Checkpointer.of(self._path).ask()

    def rollback(self):
        try:
            super().rollback()
        finally:
            self.end_turn()

    def close(self):
        try:
            super().close()
        finally:
            self.end_turn()
            if self._turn_fd is not None:
                os.close(self._turn_fd)
                self._turn_fd = None


class TurnTakingCursor(sqlite3.Cursor):
    def execute(self, sql, parameters=(), /):
        return self._in_turn(sql, super().execute, parameters)

    def executemany(self, sql, seq_of_parameters, /):
        return self._in_turn(sql, super().executemany, seq_of_parameters)

    def _in_turn(self, sql: str, run, parameters):
        connection = self.connection
        if connection.in_transaction or not _begins_write(sql):
            return run(sql, parameters)
        connection.take_turn()
        try:
            return run(sql, parameters)
        finally:
            if not connection.in_transaction:  # autocommit, or the statement failed
                connection.end_turn()


class Checkpointer:
    """A daemon thread per database file and process that checkpoints the WAL when asked
    (requests arriving while it works are folded into the next run)."""

    _running: dict[tuple[int, str], Checkpointer] = {}
    _guard = threading.Lock()

    @classmethod
    def of(cls, path: str) -> Checkpointer:
        key = (os.getpid(), path)  # a forked process starts its own thread
        with cls._guard:
            checkpointer = cls._running.get(key)
            if checkpointer is None:
                checkpointer = cls._running[key] = cls(path)
            return checkpointer

    def __init__(self, path: str):
        self.path, self.done = path, 0
        self._asked = threading.Event()
        threading.Thread(target=self._run, name="sqlite-checkpoint", daemon=True).start()

    def ask(self) -> None:
        self._asked.set()

    def _run(self) -> None:
        connection = None
        while True:
            self._asked.wait()
            self._asked.clear()
            try:
                if connection is None:
                    connection = sqlite3.connect(self.path, timeout=WAIT_LIMIT_S, check_same_thread=False)
                connection.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                self.done += 1
            except sqlite3.Error:  # the next commit asks again
                log.exception("WAL checkpoint of %s failed", self.path)
                connection = None
