"""A request whose very first database statement finds its connection closed by the server
runs again, once, on a new connection.

``core.pg_liveness`` discards a pooled connection whose server has said goodbye.  A server
process told to stop (a restart, ``pg_terminate_backend``) that has not yet said so looks
alive and fails the first statement sent to it.  Until that statement nothing of the
request has reached the database, and the after-commit work (pushes, job kicks) has not
run, so running the request again from its ``before_request`` hooks is safe; SQLAlchemy
has already replaced the pool's connections.  A request that has run a statement
successfully is never replayed: it answers 503 with ``Retry-After`` as before.
"""
from __future__ import annotations

import logging

from flask import Flask, g, has_request_context, request
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.exc import DBAPIError

log = logging.getLogger(__name__)


def _count_statement(*_args) -> None:
    if has_request_context():
        g.db_statements_done = g.get("db_statements_done", 0) + 1


def is_replayable(error: Exception) -> bool:
    """A lost connection under the request's first statement, not replayed yet."""
    return (isinstance(error, DBAPIError) and error.connection_invalidated
            and not g.get("db_statements_done") and not g.get("db_replayed"))


class ReplayingFlask(Flask):
    def handle_user_exception(self, e):
        if not is_replayable(e):
            return super().handle_user_exception(e)
        from extensions import db

        g.db_replayed = True
        log.warning("%s %s: the database connection was closed under the first statement; running it again",
                    request.method, request.path)
        db.session.rollback()
        try:
            answer = self.preprocess_request()
            return answer if answer is not None else self.dispatch_request()
        except Exception as again:  # noqa: BLE001 - answered as any error of the request would be
            return super().handle_user_exception(again)


def install() -> None:
    """Count each request's successful statements (once per process)."""
    if not event.contains(Engine, "after_cursor_execute", _count_statement):
        event.listen(Engine, "after_cursor_execute", _count_statement)
