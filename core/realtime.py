"""One way to push to browsers: ``push(event, data, room)``.

Pushes wait for the current transaction to commit (a rolled-back change is never
announced), and go through Flask-SocketIO's Redis message queue, so a job in an RQ worker
and a request in any web process reach the same connected consoles.
"""
from __future__ import annotations

import logging

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from core.db import on_commit

NAMESPACE = "/console"
SUPERVISORS = "supervisors"
FIRST_PUSHES = "first_pushes"  # session.info key: pushes published before other after-commit work

log = logging.getLogger(__name__)


def user_room(user_id: int) -> str:
    return f"user:{user_id}"


def ticket_room(ticket_id: int) -> str:
    return f"ticket:{ticket_id}"


def push_now(event: str, data: dict, room: str) -> None:
    """Emit immediately (use ``push`` inside a transaction)."""
    from extensions import socketio

    try:
        socketio.emit(event, data, namespace=NAMESPACE, to=room)
    except Exception:  # a push is best effort: the console refetches state on reconnect
        log.exception("could not push %s to %s", event, room)


def push(event: str, data: dict, room: str) -> None:
    """Emit ``event`` to ``room`` once the current transaction commits."""
    from extensions import db

    on_commit(db.session(), lambda: push_now(event, data, room))


def push_first(event: str, data: dict, room: str) -> None:
    """``push``, published right at the commit, before the transaction's other after-commit
    work (other pushes, job enqueues): for an event someone is waiting on (the screen pop)."""
    from extensions import db

    session = db.session()
    if session.get_transaction() is None:
        session.begin()  # so a rollback before any SQL still discards the push
    session.info.setdefault(FIRST_PUSHES, []).append((event, data, room))


# Inserted before core.db's after-commit listener, so these run before ``on_commit`` work.
@sa_event.listens_for(Session, "after_commit", insert=True)
def _publish_first_pushes(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released, not the transaction committed: wait for that
    for event, data, room in session.info.pop(FIRST_PUSHES, []):
        push_now(event, data, room)


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_first_pushes(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction, not a savepoint
        session.info.pop(FIRST_PUSHES, None)
