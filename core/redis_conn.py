"""The application's Redis connection (one pool per process)."""
from __future__ import annotations

import redis
from flask import current_app


def get_redis() -> redis.Redis:
    """The shared client for the current app (created in ``create_app``)."""
    return current_app.extensions["tsunagu_redis"]


def connect(url: str, blocking: bool = False) -> redis.Redis:
    """A client whose calls fail fast when Redis is down (``blocking`` for BLPOP users)."""
    return redis.Redis.from_url(url, socket_connect_timeout=2, socket_timeout=None if blocking else 5,
                                health_check_interval=30, retry_on_timeout=not blocking)
