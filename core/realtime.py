"""One way to push to browsers: ``push(event, data, room)``.

Pushes wait for the current transaction to commit (a rolled-back change is never
announced), and go through Flask-SocketIO's Redis message queue, so a job in an RQ worker
and a request in any web process reach the same connected consoles.
"""
from __future__ import annotations

import logging

from core.db import on_commit

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
    from extensions import db

    on_commit(db.session(), lambda: push_now(event, data, room))
