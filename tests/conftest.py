"""Test fixtures: one app per run on the backend chosen by ``TSUNAGU_TEST_DB``
(``sqlite`` or ``postgresql``; ``./test.sh`` runs the suite on both), a private real Redis,
real commits with every table emptied after each test, and helpers to log in, make
users, and start real web and worker processes."""
from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest
import requests
from flask.testing import FlaskClient

ROOT = Path(__file__).resolve().parent.parent
BACKEND = os.environ.get("TSUNAGU_TEST_DB", "sqlite")
PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
CI = os.environ.get("CI", "").lower() == "true"

# Settings must be in the environment before app modules are imported.
_instance = tempfile.mkdtemp(prefix="tsunagu-test-instance-")
os.environ["TSUNAGU_INSTANCE"] = _instance
os.environ.setdefault("SECRET_KEY", "test-secret-key")
os.environ["TSUNAGU_DEMO"] = "0"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _create_pg_database() -> tuple[str, str]:
    import psycopg

    name = f"tsunagu_test_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    try:
        with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
            # A UTF-8 ctype so pg_trgm sees Japanese trigrams (TOOLING "Databases").
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                         f"LC_CTYPE 'C.UTF-8' LC_COLLATE 'C.UTF-8'")
    except psycopg.OperationalError as error:
        pytest.exit(f"PostgreSQL is required for TSUNAGU_TEST_DB=postgresql: {error}", returncode=3)
    base = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1)
    return name, f"{base}/{name}"


def _drop_pg_database(name: str) -> None:
    import psycopg

    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")


@pytest.fixture(scope="session")
def redis_url():
    from core.redis_server import PrivateRedis

    server = PrivateRedis()
    yield server.url
    server.stop()


@pytest.fixture(scope="session")
def database_url():
    if BACKEND == "postgresql":
        name, url = _create_pg_database()
        yield url
        _drop_pg_database(name)
    elif BACKEND == "sqlite":
        folder = tempfile.mkdtemp(prefix="tsunagu-test-db-")
        yield f"sqlite:///{folder}/test.db"
        shutil.rmtree(folder, ignore_errors=True)
    else:
        pytest.exit(f"TSUNAGU_TEST_DB must be sqlite or postgresql, not {BACKEND!r}", returncode=3)


@pytest.fixture(scope="session")
def app(database_url, redis_url):
    os.environ["DATABASE_URL"] = database_url
    os.environ["REDIS_URL"] = redis_url
    from flask_migrate import upgrade

    from app import create_app

    application = create_app({"TESTING": True, "SQLALCHEMY_DATABASE_URI": database_url,
                              "REDIS_URL": redis_url, "SERVER_NAME": None})
    with application.app_context():
        upgrade(revision="heads")
    yield application


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Empty every table and Redis after each test (tests commit for real)."""
    yield
    if "app" not in request.fixturenames:
        return
    application = request.getfixturevalue("app")
    from sqlalchemy import text

    from extensions import db

    with application.app_context():
        db.session.remove()
        from sqlalchemy import inspect
        from sqlalchemy.exc import OperationalError

        existing = set(inspect(db.engine).get_table_names())
        tables = [t for t in reversed(db.metadata.sorted_tables) if t.name in existing]
        # A live web process may still be finishing a request (a socket disconnect): its
        # row locks can deadlock with TRUNCATE's table locks; PostgreSQL aborts one, retry.
        for attempt in range(5):
            try:
                with db.engine.begin() as conn:
                    if conn.dialect.name == "postgresql":
                        names = ", ".join(f'"{t.name}"' for t in tables)
                        conn.execute(text(f"TRUNCATE {names} RESTART IDENTITY CASCADE"))
                    else:
                        for table in tables:
                            conn.execute(table.delete())
                break
            except OperationalError:
                if attempt == 4:
                    raise
                time.sleep(0.2)
        application.extensions["tsunagu_redis"].flushdb()
    # In-process caches of rows that are gone now (SLA calendar and targets, routing policies).
    from routing import store
    from tickets import sla

    sla.invalidate()
    store.forget_policies()
    from accounts.service import TOKEN_COPIES, USER_COPIES

    USER_COPIES.forget(application)
    TOKEN_COPIES.forget(application)


@pytest.fixture
def run_jobs(app):
    """``run_jobs()`` runs every queued job now, in this process, on the test app
    (delayed jobs stay scheduled: tests call their entry points to simulate time)."""
    from rq import SimpleWorker

    import core.jobs
    from core.jobs import QUEUES, queue

    core.jobs._worker_app = app

    def _run(allow_failures: bool = False) -> None:
        """Runs the queues dry; a job that raised fails the test (retries would hide it)."""
        with app.app_context():
            worker = SimpleWorker([queue(name) for name in QUEUES], connection=app.extensions["tsunagu_redis"])
            worker.work(burst=True, with_scheduler=False, logging_level="WARNING")
            if worker.failed_job_count and not allow_failures:
                raise AssertionError(f"{worker.failed_job_count} job(s) failed; see the log above")

    return _run


@pytest.fixture
def ctx(app):
    with app.app_context():
        yield
        from extensions import db

        db.session.remove()


class ApiClient(FlaskClient):
    """Test client that sends the CSRF token it got at login on unsafe requests."""

    csrf_token: str | None = None

    def open(self, *args, **kwargs):
        method = (kwargs.get("method") or "GET").upper()
        if self.csrf_token and method in ("POST", "PUT", "PATCH", "DELETE"):
            headers = dict(kwargs.pop("headers", None) or {})
            headers.setdefault("X-CSRF-Token", self.csrf_token)
            kwargs["headers"] = headers
        return super().open(*args, **kwargs)


@pytest.fixture
def client(app):
    app.test_client_class = ApiClient
    return app.test_client()


PASSWORD = "correct horse battery"


@pytest.fixture
def make_user(app):
    """``make_user(username, roles="operator", **over)`` creates and commits a user."""
    from accounts.service import create_user
    from extensions import db

    def _make(username: str | None = None, roles: str = "operator", **over):
        with app.app_context():
            user = create_user(username or f"user{uuid.uuid4().hex[:6]}", over.pop("password", PASSWORD),
                               roles, **over)
            db.session.commit()
            return user.id, user.username

    return _make


@pytest.fixture
def login(app, make_user):
    """``login(client, roles="operator", **over)`` makes a user, logs the client in and
    returns ``(user_id, username)``; the client then sends the CSRF token itself."""

    def _login(test_client, roles: str = "operator", **over):
        user_id, username = make_user(roles=roles, **over)
        response = test_client.post("/api/v1/auth/login", json={"username": username, "password": PASSWORD})
        assert response.status_code == 200, response.get_json()
        test_client.csrf_token = response.get_json()["csrf_token"]
        return user_id, username

    return _login


def _wait_http(url: str, process: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode}")
        try:
            requests.get(url, timeout=5)
            return
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class Processes:
    """Real Tsunagu processes (web, worker) on the test database and Redis."""

    def __init__(self, database_url: str, redis_url: str):
        self.env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis_url,
                    "TSUNAGU_DEMO": "0", "PYTHONUNBUFFERED": "1"}
        self.started: list[subprocess.Popen] = []
        self.logs = Path(tempfile.mkdtemp(prefix="tsunagu-test-procs-"))

    def _spawn(self, argv: list[str], name: str, env: dict | None = None) -> subprocess.Popen:
        log = open(self.logs / f"{name}.log", "wb")
        process = subprocess.Popen(argv, cwd=ROOT, env={**self.env, **(env or {})}, stdout=log,
                                   stderr=subprocess.STDOUT, start_new_session=True)
        self.started.append(process)
        return process

    def web(self, **env) -> str:
        port = free_port()
        argv = [str(ROOT / ".venv/bin/gunicorn"), "--worker-class", "gthread", "--workers", "1",
                "--threads", "50", "--bind", f"127.0.0.1:{port}", "--log-level", "warning",
                "app:create_app()"]
        process = self._spawn(argv, f"web-{port}", env)
        url = f"http://127.0.0.1:{port}"
        _wait_http(url + "/login", process)
        return url

    def worker(self, **env) -> subprocess.Popen:
        return self._spawn([sys.executable, "-m", "flask", "--app", "app", "worker"],
                           f"worker-{len(self.started)}", env)

    def stop(self) -> None:
        import signal

        for process in self.started:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.started:
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)


@pytest.fixture(scope="session")
def processes(app, database_url, redis_url):
    procs = Processes(database_url, redis_url)
    yield procs
    procs.stop()


@pytest.fixture(scope="session")
def live_server(processes) -> str:
    """Base URL of a real web process (gunicorn) on the test database."""
    return processes.web()


def http_login(base_url: str, username: str, password: str = PASSWORD) -> requests.Session:
    session = requests.Session()
    response = session.post(f"{base_url}/api/v1/auth/login", json={"username": username, "password": password})
    response.raise_for_status()
    session.headers["X-CSRF-Token"] = response.json()["csrf_token"]
    return session


CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="session")
def browser():
    """Debian's Chromium driven by Playwright (never a downloaded browser)."""
    if not os.path.exists(CHROMIUM):
        if CI:
            pytest.fail("Chromium is missing at /usr/bin/chromium (CI=true: nothing may be skipped)")
        pytest.skip("Chromium is not installed")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        launched.close()


def browser_login(browser, base_url: str, username: str, password: str = PASSWORD, locale: str = "ja-JP"):
    """A new browser context logged in through the /login page; returns (context, page)."""
    context = browser.new_context(locale=locale, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    page.goto(f"{base_url}/login")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_load_state("networkidle")
    return context, page


@pytest.fixture
def published(redis_url):
    """What this process publishes on Flask-SocketIO's Redis channel: ``published()``
    returns the ``(event, data)`` of the messages seen so far (waiting ``wait`` s), in order."""
    import json
    import time

    import redis

    subscriber = redis.Redis.from_url(redis_url).pubsub(ignore_subscribe_messages=True)
    subscriber.subscribe("flask-socketio")
    seen = []

    def _published(wait=0.5):
        deadline = time.monotonic() + wait
        while time.monotonic() < deadline:
            message = subscriber.get_message(timeout=0.05)
            if message is not None and (body := json.loads(message["data"])).get("method") == "emit":
                seen.append((body["event"], body["data"][0]))
        return seen

    yield _published
    subscriber.close()
