"""Helpers for the multi-node and fault tests (no tests here): real Tsunagu nodes started
the way ``./run.sh web|worker|mail`` starts them (``python -m core.supervise ROLE``, so a
child that dies is restarted by its supervisor), or a bare web process on a chosen port,
plus a python-socketio client and a Redis server that can be restarted."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests
import socketio

from tests.conftest import ROOT, free_port

SUPERVISE = [sys.executable, "-m", "core.supervise"]


def child_pids(parent: int) -> list[int]:
    """Direct children of ``parent`` (from /proc; the supervisor's role processes)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        # pid (comm) state ppid …: comm may hold spaces, so split after the last ')'.
        if int(stat.rsplit(")", 1)[1].split()[1]) == parent:
            found.append(int(entry.name))
    return found


def wait_until(predicate, timeout: float = 15.0, interval: float = 0.1, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not reached within {timeout} s")


class Node:
    """One supervised role (``python -m core.supervise ROLE``)."""

    def __init__(self, role: str, process: subprocess.Popen, port: int | None = None):
        self.role, self.process, self.port = role, process, port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def child(self, timeout: float = 30.0) -> int:
        """The pid of the role process the supervisor runs now (waits for a restart)."""
        return wait_until(lambda: (child_pids(self.process.pid) or [None])[0], timeout,
                          what=f"{self.role} child process")

    def kill_child(self) -> int:
        """SIGKILL the role process (and its process group); the supervisor restarts it."""
        pid = self.child()
        os.killpg(pid, signal.SIGKILL)
        return pid


class Cluster:
    """Real nodes on one database and one Redis; ``stop()`` ends every one of them."""

    def __init__(self, database_url: str, redis_url: str):
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "TSUNAGU_DEMO": "0", "PYTHONUNBUFFERED": "1", "WEB_THREADS": "40", "WEB_WORKERS": "1"}
        self.nodes: list[Node] = []
        self.bare: list[subprocess.Popen] = []
        self.logs = Path(tempfile.mkdtemp(prefix="tsunagu-test-nodes-"))

    def _popen(self, argv: list[str], name: str, env: dict) -> subprocess.Popen:
        log = open(self.logs / f"{name}-{time.time_ns()}.log", "wb")
        return subprocess.Popen(argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                start_new_session=True)

    def start(self, role: str, **env) -> Node:
        """Start ``./run.sh ROLE`` (without the install step); does not wait."""
        port = None
        if role == "web":
            port = free_port()
            env = {"HOST": "127.0.0.1", "PORT": str(port), **env}
        elif role == "mail":
            port = free_port()
            env = {"SMTP_LISTEN": f"127.0.0.1:{port}", **env}
        node = Node(role, self._popen(SUPERVISE + [role], f"{role}-{port or len(self.nodes)}", env), port)
        self.nodes.append(node)
        return node

    def bare_web(self, port: int | None = None) -> str:
        """The web command of ``./run.sh web`` without a supervisor, on ``port`` (so a test
        can kill it and start it again on the same port); waits until it answers."""
        from core.supervise import web_command

        port = port or free_port()
        argv = web_command()
        argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
        argv[argv.index("--threads") + 1] = "40"
        process = self._popen(argv, f"bare-web-{port}", {})
        self.bare.append(process)
        url = f"http://127.0.0.1:{port}"
        wait_http(url, process)
        return url

    def kill_bare(self, url: str) -> None:
        port = int(url.rsplit(":", 1)[1])
        for process in self.bare:
            if process.poll() is None and f"127.0.0.1:{port}" in process.args:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(10)

    def stop(self) -> None:
        leftovers = [pid for node in self.nodes if node.process.poll() is None for pid in child_pids(node.process.pid)]
        for process in [n.process for n in self.nodes] + self.bare:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in [n.process for n in self.nodes] + self.bare:
            try:
                process.wait(20)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(5)
        for pid in leftovers:  # role processes run in their own sessions
            try:
                os.killpg(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def wait_http(url: str, process: subprocess.Popen | None = None, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"the server for {url} exited with {process.returncode}")
        try:
            requests.get(url + "/login", timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


def wait_smtp(port: int, timeout: float = 60.0) -> None:
    import smtplib

    def _answers():
        try:
            with smtplib.SMTP("127.0.0.1", port, timeout=5) as client:
                return client.noop()[0] == 250
        except OSError:
            return False

    wait_until(_answers, timeout, 0.2, f"SMTP on {port}")


class Console:
    """A python-socketio client on /console with a logged-in session's cookie; it keeps
    every event it receives, in order."""

    def __init__(self, base_url: str, session: requests.Session,
                 events=("screen_pop", "offer", "queue_stats", "operator_presence")):
        self.received: list[tuple[str, dict]] = []
        self.client = socketio.Client(reconnection=False)
        for name in events:
            self.client.on(name, (lambda n: lambda data: self.received.append((n, data)))(name),
                           namespace="/console")
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        self.client.connect(base_url, headers={"Cookie": cookie}, namespaces=["/console"],
                            transports=["websocket"], wait_timeout=10)

    def call(self, event: str, data: dict):
        return self.client.call(event, data, namespace="/console", timeout=10)

    def wait_for(self, event: str, predicate=lambda data: True, timeout: float = 15.0) -> dict:
        """The first ``event`` received so far (or within ``timeout``) matching ``predicate``."""
        def _found():
            return next((data for name, data in list(self.received) if name == event and predicate(data)), None)

        try:
            return wait_until(_found, timeout, 0.02, f"a matching {event}")
        except AssertionError:
            raise AssertionError(f"no {event} matching the expectation within {timeout} s; "
                                 f"got {[name for name, _ in self.received]}") from None

    def close(self) -> None:
        self.client.disconnect()


class RestartableRedis:
    """A private redis-server on a fixed port that a test may stop and start again (the
    session's Redis is shared by every test and must never blip)."""

    def __init__(self):
        from core.redis_server import _binary

        self.binary = _binary()
        self.port = free_port()
        self.url = f"redis://127.0.0.1:{self.port}/0"
        self.workdir = tempfile.mkdtemp(prefix="tsunagu-test-redis-")
        self.process: subprocess.Popen | None = None
        self.start()

    def start(self) -> None:
        import redis

        self.process = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
             "--dir", self.workdir, "--loglevel", "warning"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        client = redis.Redis.from_url(self.url, socket_connect_timeout=1)

        def _ready():
            try:
                return client.ping()
            except redis.exceptions.ConnectionError:
                return False

        wait_until(_ready, 10, 0.02, "redis-server")

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.kill()
            self.process.wait(5)

    def stop(self) -> None:
        import shutil

        self.kill()
        shutil.rmtree(self.workdir, ignore_errors=True)
