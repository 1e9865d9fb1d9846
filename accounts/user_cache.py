"""The logged-in user of each request without a database read: process-local copies of
users' rows, all dropped as soon as any user changes anywhere.

Every request asks Redis for one stamp (``tsunagu:users:epoch``) that each committed
insert, update or delete of a user replaces with a new random value (never a counter,
which could come back to an old value after Redis is emptied).  A copy is used only
while the stamp still reads what it read when the copy was taken, so a role change, a deactivation or a
new password applies to the very next request on every node.  Without Redis there is
no cache: the row is read from the database as before.  Copies also expire after
``MAX_AGE_S`` in case a new stamp itself was lost (Redis down at that moment)."""
from __future__ import annotations

import threading
import time
import uuid

from flask import current_app, has_app_context
from sqlalchemy import event
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.orm import make_transient_to_detached, object_session

from core.db import loaded, on_commit, scratch

EPOCH_KEY = "tsunagu:users:epoch"
MAX_AGE_S = 30.0


class _Copies:
    """One app's copies (an app per database: tests and benches run several)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.epoch = None
        self.rows: dict[int, tuple[float, dict]] = {}  # user id → (taken at, column values)

    def forget(self) -> None:
        with self.lock:
            self.epoch, self.rows = None, {}


def _copies() -> _Copies:
    return current_app.extensions["tsunagu_user_copies"]


def _epoch():
    """The stamp as Redis has it now, or ``False`` when Redis cannot be asked."""
    from core.redis_conn import get_redis

    try:
        return get_redis().get(EPOCH_KEY)
    except Exception:  # Redis down: no cache rather than a failed request
        return False


def load(session, user_model, user_id: int):
    """The user ``user_id`` attached to ``session`` (None if there is none)."""
    copies, epoch = _copies(), _epoch()
    if epoch is not False:
        with copies.lock:
            if copies.epoch != epoch:
                copies.epoch, copies.rows = epoch, {}
            cached = copies.rows.get(user_id)
        if cached is not None and time.monotonic() - cached[0] < MAX_AGE_S:
            return _attach(session, user_model, cached[1])
    user = session.get(user_model, user_id)
    if user is not None and epoch is not False:
        values = {attr.key: getattr(user, attr.key) for attr in sa_inspect(user_model).column_attrs}
        with copies.lock:
            if copies.epoch == epoch:  # still the stamp this copy was read under
                copies.rows[user_id] = (time.monotonic(), values)
    return user


def _attach(session, user_model, values: dict):
    """A fresh instance per request (a request may change its user) that the session
    treats as loaded: no SQL, no pending changes."""
    existing = loaded(session, user_model, values["id"])
    if existing is not None:
        return existing
    user = user_model(**values)
    make_transient_to_detached(user)
    session.add(user)
    return user


def init_app(app, user_model) -> None:
    """Keep copies for ``app``; a new stamp after the commit of any change to
    a user row (the listener is installed once per process)."""
    app.extensions["tsunagu_user_copies"] = _Copies()
    if not event.contains(user_model, "after_update", _changed):
        for name in ("after_insert", "after_update", "after_delete"):
            event.listen(user_model, name, _changed)


def _changed(_mapper, _connection, target) -> None:
    session = object_session(target)
    if session is None or not has_app_context():
        return
    marks = scratch(session, "users_changed")  # emptied at commit and rollback
    if marks:
        return
    marks["yes"] = True
    app = current_app._get_current_object()

    def _bump():
        try:
            app.extensions["tsunagu_redis"].set(EPOCH_KEY, uuid.uuid4().hex)
        except Exception:
            app.extensions["tsunagu_user_copies"].forget()  # MAX_AGE_S bounds the other processes

    on_commit(session, _bump)
