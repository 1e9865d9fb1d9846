"""One way to push to browsers: ``push(event, data, room)``.

Pushes wait for the current transaction to commit (a rolled-back change is never
announced); a transaction's pushes are published together, in one Redis round trip
(core.socket_queue).  They go through Flask-SocketIO's Redis message queue, so a job in an
RQ worker and a request in any web process reach the same connected consoles.
"""
from __future__ import annotations

import logging
from contextlib import nullcontext

from core.db import on_commit, scratch

NAMESPACE = "/console"
SUPERVISORS = "supervisors"

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
    _pending()["rest"].append((event, data, room))


def push_first(event: str, data: dict, room: str) -> None:
    """``push``, published ahead of the transaction's other pushes: for an event someone is
    waiting on (the screen pop)."""
    _pending()["first"].append((event, data, room))


def _pending() -> dict:
    """This transaction's pushes; the first one registers their publishing, ahead of the
    transaction's other after-commit work (job kicks)."""
    from extensions import db

    session = db.session()
    pending = scratch(session, "pushes")
    if not pending:
        pending.update(first=[], rest=[])
        on_commit(session, lambda: publish_together(pending["first"] + pending["rest"]), first=True)
    return pending


def publish_together(messages: list[tuple]) -> None:
    """``push_now`` for each (event, data, room), in one Redis round trip when the message
    queue can pipeline (core.socket_queue)."""
    from extensions import socketio

    together = getattr(getattr(getattr(socketio, "server", None), "manager", None), "together", None)
    with together() if together is not None else nullcontext():
        for message in messages:
            push_now(*message)
