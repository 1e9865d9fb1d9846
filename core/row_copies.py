"""Rows read on every request (the logged-in user, the CTI webhook's token) without a
database read: process-local copies, all dropped as soon as any row of their table
changes anywhere.

Every request asks Redis for one stamp per table (``tsunagu:<table>:epoch``). Each committed
insert, update or delete of a row in that table replaces the stamp with a new random value.
It is never a counter, which could come back to an old value after Redis is emptied.  A copy
is used only while the stamp still reads what it read when the copy was taken. So a role
change, a deactivation, a new password or a revoked token applies to the very next request
on every node.  Without Redis there is no cache: the row is read from the database as
before.  Copies also expire after ``MAX_AGE_S`` in case a new stamp itself was lost (Redis
down at that moment)."""
from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached, object_session

from core.db import loaded, on_commit, scratch

MAX_AGE_S = 30.0


class _Copies:
    """One app's copies of one table (an app per database: tests and benches run several)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.epoch = None
        self.rows: dict = {}  # lookup key → (taken at, column values)

    def forget(self) -> None:
        with self.lock:
            self.epoch, self.rows = None, {}


class RowCopies:
    """The copies of one model's rows, looked up by a key of the caller's choosing (the
    id, a token's digest)."""

    def __init__(self, table: str):
        self.epoch_key = f"tsunagu:{table}:epoch"
        self.extension = f"tsunagu_{table}_copies"
        self._listener = self._changed  # one object, so the listener is found again

    def init_app(self, app, model) -> None:
        """Keep copies for ``app``; a new stamp after the commit of any change to a row of
        ``model`` (the listeners are installed once per process)."""
        app.extensions[self.extension] = _Copies()
        if not event.contains(model, "after_update", self._listener):
            for name in ("after_insert", "after_update", "after_delete"):
                event.listen(model, name, self._listener)

    def forget(self, app) -> None:
        app.extensions[self.extension].forget()

    def load(self, session, model, key, read: Callable[[], object]):
        """The row for ``key`` attached to ``session``: a copy, or ``read()`` (None if there
        is none, which is not remembered)."""
        copies, epoch = current_app.extensions[self.extension], self._epoch()
        if epoch is not False:
            with copies.lock:
                if copies.epoch != epoch:
                    copies.epoch, copies.rows = epoch, {}
                cached = copies.rows.get(key)
            if cached is not None and time.monotonic() - cached[0] < MAX_AGE_S:
                return _attach(session, model, cached[1])
        row = read()
        if row is not None and epoch is not False:
            values = {attr.key: getattr(row, attr.key) for attr in sa_inspect(model).column_attrs}
            with copies.lock:
                if copies.epoch == epoch:  # still the stamp this copy was read under
                    copies.rows[key] = (time.monotonic(), values)
        return row

    def _epoch(self):
        """The stamp as Redis has it now, or ``False`` when Redis cannot be asked."""
        from core.redis_conn import get_redis

        try:
            return get_redis().get(self.epoch_key)
        except Exception:  # Redis down: no cache rather than a failed request
            return False

    def _changed(self, _mapper, _connection, target) -> None:
        session = object_session(target)
        if session is None or not has_app_context():
            return
        marks = scratch(session, self.extension)  # emptied at commit and rollback
        if marks:
            return
        marks["yes"] = True
        app = current_app._get_current_object()

        def _bump():
            try:
                app.extensions["tsunagu_redis"].set(self.epoch_key, uuid.uuid4().hex)
            except Exception:
                app.extensions[self.extension].forget()  # MAX_AGE_S bounds the other processes

        on_commit(session, _bump)


def _attach(session, model, values: dict):
    """A fresh instance per request (a request may change it) that the session treats as
    loaded: no SQL, no pending changes."""
    existing = loaded(session, model, values["id"])
    if existing is not None:
        return existing
    row = model(**values)
    make_transient_to_detached(row)
    session.add(row)
    return row
