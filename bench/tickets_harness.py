"""Shared plumbing of the tickets and mail benchmarks: a fresh database (SQLite file or
PostgreSQL), a private Redis, migrations, an API token, and the production processes
(gunicorn as ``core.supervise`` starts it, ``flask worker``, ``flask mail``)."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
FLASK = [str(ROOT / ".venv/bin/flask"), "--app", "app"]
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def fresh_database(backend: str):
    """A new empty database: (SQLAlchemy URL, drop function)."""
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="tsunagu-bench-")
        return f"sqlite:///{folder}/bench.db", lambda: None
    import psycopg

    name = f"tsunagu_bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                     f"LC_CTYPE 'C.UTF-8' LC_COLLATE 'C.UTF-8'")

    def drop():
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return f"{base}/{name}", drop


class Stack:
    """Database + private Redis + migrated schema; starts and stops real processes."""

    def __init__(self, backend: str, **extra_env):
        from core.redis_server import PrivateRedis

        self.backend = backend
        self.database_url, self._drop = fresh_database(backend)
        self.redis = PrivateRedis()
        self.instance = tempfile.mkdtemp(prefix="tsunagu-bench-inst-")
        self.env = {**os.environ, "DATABASE_URL": self.database_url, "REDIS_URL": self.redis.url,
                    "TSUNAGU_INSTANCE": self.instance, "SECRET_KEY": "bench", "TSUNAGU_DEMO": "0",
                    "PYTHONUNBUFFERED": "1", **extra_env}
        self.processes: list[subprocess.Popen] = []
        subprocess.run(FLASK + ["db", "upgrade", "heads"], cwd=ROOT, env=self.env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def app(self):
        """An app in this process on the same database (for seeding and checking)."""
        os.environ.update({k: v for k, v in self.env.items() if k in (
            "DATABASE_URL", "REDIS_URL", "TSUNAGU_INSTANCE", "SECRET_KEY", "TSUNAGU_DEMO")})
        from app import create_app

        return create_app({"SQLALCHEMY_DATABASE_URI": self.database_url, "REDIS_URL": self.redis.url})

    def token(self) -> str:
        out = subprocess.run(FLASK + ["tokens", "add", "bench", "--scope", "api"], cwd=ROOT, env=self.env,
                             check=True, capture_output=True, text=True).stdout
        return out.strip().splitlines()[-1].strip()

    def login(self, url: str, username: str) -> requests.Session:
        """A new operator, logged in: a session that sends its CSRF token."""
        subprocess.run(FLASK + ["users", "add", username, "--password", "bench-password", "--roles", "operator"],
                       cwd=ROOT, env=self.env, check=True, capture_output=True)
        session = requests.Session()
        answer = session.post(f"{url}/api/v1/auth/login", json={"username": username, "password": "bench-password"})
        answer.raise_for_status()
        session.headers["X-CSRF-Token"] = answer.json()["csrf_token"]
        return session

    def spawn(self, argv: list[str], **env) -> subprocess.Popen:
        log = open(Path(self.instance) / f"proc-{len(self.processes)}.log", "wb")
        process = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **env}, stdout=log, stderr=subprocess.STDOUT,
                                   start_new_session=True)
        self.processes.append(process)
        return process

    def web(self, workers: int | None = None) -> str:
        """gunicorn exactly as ``./run.sh web`` starts it (core.supervise.web_command);
        ``workers`` overrides WEB_WORKERS (default: one per core) to measure scaling."""
        from core.supervise import web_command

        port = free_port()
        os.environ["HOST"], os.environ["PORT"] = "127.0.0.1", str(port)  # web_command reads them
        argv = web_command()
        if workers:
            argv[argv.index("--workers") + 1] = str(workers)
        process = self.spawn(argv, HOST="127.0.0.1", PORT=str(port))
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise RuntimeError("gunicorn exited; see " + self.instance)
            try:
                requests.get(url + "/login", timeout=10)
                return url
            except requests.RequestException:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not start")

    def worker(self) -> subprocess.Popen:
        return self.spawn(FLASK + ["worker"])

    def close(self) -> None:
        for process in self.processes:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        self.redis.stop()
        try:
            from extensions import db

            db.engine.dispose()
        except Exception:
            pass
        self._drop()


class KeepAliveClient:
    """A logged-in session's cookie and CSRF token over one keep-alive ``http.client``
    connection: about a quarter of ``requests``' CPU per call, which matters when the
    load generator shares the server's cores."""

    def __init__(self, url: str, session: requests.Session):
        import http.client

        host, port = url.split("//", 1)[1].split(":")
        self.connection = http.client.HTTPConnection(host, int(port), timeout=60)
        self.headers = {"Cookie": "; ".join(f"{k}={v}" for k, v in session.cookies.items()),
                        "X-CSRF-Token": session.headers["X-CSRF-Token"], "Content-Type": "application/json",
                        "User-Agent": session.headers["User-Agent"]}

    def post(self, path: str, payload: dict) -> int:
        import json

        self.connection.request("POST", path, body=json.dumps(payload).encode(), headers=self.headers)
        response = self.connection.getresponse()
        response.read()
        return response.status


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, max(0, int(round(fraction * (len(ordered) - 1)))))]
