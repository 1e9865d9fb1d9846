"""The Socket.IO message queue on Redis, able to publish several messages in one round trip.

Flask-SocketIO's ``RedisManager`` publishes each emit with its own Redis command.  A
transaction that announces many changes (a routing batch assigns dozens of tickets, each
with two or three pushes) would wait for a round trip per push; inside ``together()``
the emits of the current thread are collected and sent in one pipeline at the end, in
order.  Receivers see exactly the messages ``RedisManager`` would have sent.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import socketio


class PipeliningRedisManager(socketio.RedisManager):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._collecting = threading.local()

    @contextmanager
    def together(self):
        """Publish the emits made inside the block in one pipeline when it ends (nested
        blocks join the outer one)."""
        if getattr(self._collecting, "messages", None) is not None:
            yield
            return
        messages = self._collecting.messages = []
        try:
            yield
        finally:
            self._collecting.messages = None
            if messages:
                self._publish_all(messages)

    def _publish(self, data):
        messages = getattr(self._collecting, "messages", None)
        if messages is None:
            return super()._publish(data)
        messages.append(data)
        return None

    def _publish_all(self, messages: list) -> None:
        if len(messages) == 1:
            super()._publish(messages[0])
            return
        try:
            if not self.connected:
                self._redis_connect()
            pipe = self.redis.pipeline(transaction=False)
            for data in messages:
                pipe.publish(self.channel, self.json.dumps(data))
            pipe.execute()
        except Exception:  # reconnect and retry one by one, as RedisManager does for one
            self.connected = False
            for data in messages:
                super()._publish(data)


def client_manager(url: str, channel: str = "flask-socketio"):
    """The manager for ``SocketIO.init_app(client_manager=…)``: pipelining on a Redis URL,
    None (Flask-SocketIO's choice) otherwise."""
    if url.startswith(("redis://", "rediss://")):
        return PipeliningRedisManager(url, channel=channel)
    return None
