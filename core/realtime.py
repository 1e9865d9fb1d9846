"""One way to push to browsers: ``push(event, data, room)``.

Pushes wait for the current transaction to commit (a rolled-back change is never
announced); a transaction's pushes are published together, in one Redis round trip
(core.socket_queue).  They go through Flask-SocketIO's Redis message queue, so a job in an RQ worker
and a request in any web process reach the same connected consoles.
"""
from __future__ import annotations

import logging

from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

NAMESPACE = "/console"
SUPERVISORS = "supervisors"
FIRST_PUSHES = "first_pushes"  # session.info keys: pushes published at commit, these first
PUSHES = "pushes"

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
    _keep_for_commit(PUSHES, (event, data, room))


def push_first(event: str, data: dict, room: str) -> None:
    """``push``, published ahead of the transaction's other pushes: for an event someone is
    waiting on (the screen pop)."""
    _keep_for_commit(FIRST_PUSHES, (event, data, room))


def _keep_for_commit(key: str, message: tuple) -> None:
    from extensions import db

    session = db.session()
    if session.get_transaction() is None:
        session.begin()  # so a rollback before any SQL still discards the push
    session.info.setdefault(key, []).append(message)


def publish_together(messages: list[tuple]) -> None:
    """``push_now`` for each (event, data, room), in one Redis round trip when the message
    queue can pipeline (core.socket_queue)."""
    from extensions import socketio

    manager = getattr(getattr(socketio, "server", None), "manager", None)
    together = getattr(manager, "together", None)
    if together is None or len(messages) < 2:
        for message in messages:
            push_now(*message)
        return
    with together():
        for message in messages:
            push_now(*message)


# Inserted before core.db's after-commit listener: a transaction's pushes are published
# at the commit, the first ones first, before other after-commit work (job enqueues).
@sa_event.listens_for(Session, "after_commit", insert=True)
def _publish_pushes(session: Session) -> None:
    if session.get_nested_transaction() is not None:
        return  # a savepoint was released, not the transaction committed: wait for that
    messages = session.info.pop(FIRST_PUSHES, []) + session.info.pop(PUSHES, [])
    if messages:
        try:
            publish_together(messages)
        except Exception:  # committed already; pushes are best effort (see push_now)
            log.exception("could not publish %d pushes", len(messages))


@sa_event.listens_for(Session, "after_soft_rollback")
def _drop_pushes(session: Session, previous_transaction) -> None:
    if previous_transaction.parent is None:  # the outermost transaction, not a savepoint
        session.info.pop(FIRST_PUSHES, None)
        session.info.pop(PUSHES, None)
