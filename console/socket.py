"""The ``/console`` Socket.IO namespace (CONTRACT §4).

A connection needs a logged-in session with the operator role (supervisors and admins
included; editors have no console).  Each connection joins its user's room, and
supervisors join the supervisors' room.
"""
from __future__ import annotations

import logging

from flask_login import current_user
from flask_socketio import Namespace, emit, join_room

from core.realtime import NAMESPACE, SUPERVISORS, user_room
from core.socket_limits import REFUSED, EventBuckets
from extensions import db
from routing import presence
from tickets import viewers

log = logging.getLogger(__name__)


def _allowed() -> bool:
    return (current_user.is_authenticated and current_user.user_id is not None
            and current_user.has_role("operator"))


class ConsoleNamespace(Namespace):
    def __init__(self, namespace: str, buckets: EventBuckets):
        super().__init__(namespace)
        self.buckets = buckets

    def trigger_event(self, event, *args):
        """Every client event passes the connection's flood guard (``args[0]`` is its sid)."""
        if event == "disconnect":
            self.buckets.forget(args[0])
        elif event != "connect" and not self.buckets.allow(args[0]):
            return REFUSED
        return super().trigger_event(event, *args)

    def on_connect(self, auth=None):
        if not _allowed():
            raise ConnectionRefusedError("login required")
        join_room(user_room(current_user.id))
        if current_user.has_role("supervisor"):
            join_room(SUPERVISORS)
        presence.connected(current_user.id)
        db.session.commit()
        # The console shows the presence it is told: after a reconnect that is any change
        # made while it was cut off (a supervisor, the offline sweep).
        emit("operator_presence", presence.as_event(current_user, presence.state_of(current_user.id)))
        return True

    def on_disconnect(self, reason=None):
        if not current_user.is_authenticated or current_user.user_id is None:
            return
        viewers.socket_disconnect()
        presence.disconnected(current_user.id)
        db.session.commit()

    # Collision detection (CONTRACT §4): who views and who types on a ticket.
    def on_view_ticket(self, data):
        return viewers.socket_event("view", data)

    def on_leave_ticket(self, data):
        return viewers.socket_event("leave", data)

    def on_typing(self, data):
        return viewers.socket_event("typing", data)

    def on_presence(self, data):
        if not _allowed():
            return {"error": {"code": "forbidden", "message": "not allowed"}}
        value = (data or {}).get("presence") if isinstance(data, dict) else None
        try:
            state = presence.set_presence(current_user, value)
        except Exception as error:  # invalid value: answer in the ack, never crash
            db.session.rollback()
            message = getattr(error, "message", "invalid presence")
            return {"error": {"code": "validation_error", "message": message}}
        db.session.commit()
        return presence.as_event(current_user, state)


def register(socketio, config) -> None:
    buckets = EventBuckets(rate=config["SOCKET_EVENTS_PER_S"], burst=config["SOCKET_EVENT_BURST"])
    socketio.on_namespace(ConsoleNamespace(NAMESPACE, buckets))
