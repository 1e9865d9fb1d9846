"""The supervising process behind ``./run.sh``.

``python -m core.supervise [all|web|worker|mail]`` starts a private Redis when no
``REDIS_URL`` is set, migrates and seeds (``all`` and ``web``), then runs the chosen roles
as child processes.  A child that dies is reported and restarted (with back-off); one that
keeps dying stops the whole run with a non-zero exit.  Ctrl-C / SIGTERM stops everything
this process started.
"""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = ROOT / ".venv" / "bin"
FLASK = [str(VENV_BIN / "flask"), "--app", "app"]
MAX_RESTARTS = int(os.environ.get("TSUNAGU_MAX_RESTARTS", "5"))  # within RESTART_WINDOW_S, then give up
RESTART_WINDOW_S = 60


def say(message: str) -> None:
    print(f"[tsunagu] {message}", flush=True)


def web_command() -> list[str]:
    host = os.environ.get("HOST", "127.0.0.1")
    port = os.environ.get("PORT", "5000")
    threads = os.environ.get("WEB_THREADS", "200")
    # Flask-SocketIO in threading mode: many threads per worker (each open websocket holds
    # one), one worker per core.  Several workers need no sticky sessions because the
    # console speaks websocket only (one connection, one worker); rooms meet in Redis.
    workers = os.environ.get("WEB_WORKERS") or str(os.cpu_count() or 1)
    return [str(VENV_BIN / "gunicorn"), "--worker-class", "gthread", "--workers", workers,
            "--threads", threads, "--bind", f"{host}:{port}", "--timeout", "120",
            # Open consoles count as connections: keep room for pages and API calls besides.
            "--worker-connections", str(int(threads) + 1000),
            # Idle keep-alive connections stay open 5 s: a PBX or proxy that reuses one after
            # 1–2 s must not race the server's close (gunicorn's default is 2 s).
            "--keep-alive", "5",
            "--graceful-timeout", "10", "--log-level", "warning", "--config", "python:core.gunicorn_conf",
            # Long Japanese search strings percent-encode to three bytes a character.
            "--limit-request-line", "8190", "app:create_app()"]


def commands(role: str) -> dict[str, list[str]]:
    roles = {
        "web": web_command(),
        "worker": FLASK + ["worker"],
    }
    if (ROOT / "tickets" / "mail" / "cli.py").exists() and os.environ.get("SMTP_LISTEN", "127.0.0.1:2525"):
        roles["mail"] = FLASK + ["mail"]
    if role == "all":
        return roles
    if role not in ("web", "worker", "mail"):
        raise SystemExit(f"unknown role {role!r}: use web, worker, mail or nothing for all")
    if role not in roles:
        raise SystemExit(f"role {role!r} is not available (SMTP_LISTEN empty?)")
    return {role: roles[role]}


class Child:
    def __init__(self, name: str, argv: list[str]):
        self.name, self.argv = name, argv
        self.process: subprocess.Popen | None = None
        self.restarts: list[float] = []

    def start(self) -> None:
        self.process = subprocess.Popen(self.argv, cwd=ROOT, start_new_session=True)

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)

    def kill(self) -> None:
        if self.process and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGKILL)


def prepare(role: str) -> None:
    """Migrate (and seed the demo) before serving; every step must succeed."""
    if role not in ("all", "web"):
        return
    subprocess.run(FLASK + ["db", "upgrade", "heads"], cwd=ROOT, check=True)
    if os.environ.get("TSUNAGU_DEMO", "1") != "0":
        subprocess.run(FLASK + ["demo", "--if-empty"], cwd=ROOT, check=True)


def main(argv: list[str]) -> int:
    role = argv[0] if argv else "all"
    if not os.environ.get("REDIS_URL"):
        from core.redis_server import PrivateRedis

        private = PrivateRedis()
        os.environ["REDIS_URL"] = private.url
        say(f"no REDIS_URL: started a private Redis at {private.url}")
    children = [Child(name, cmd) for name, cmd in commands(role).items()]
    stopping = False

    def _stop(signum, _frame):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    try:
        prepare(role)
    except subprocess.CalledProcessError as error:
        say(f"setup step failed ({' '.join(error.cmd[3:])}), exit code {error.returncode}")
        return 1
    for child in children:
        child.start()
    if any(c.name == "web" for c in children):
        say(f"console on http://{os.environ.get('HOST', '127.0.0.1')}:{os.environ.get('PORT', '5000')}/ "
            f"(roles: {', '.join(c.name for c in children)}); Ctrl-C stops everything")
    code = 0
    while not stopping:
        time.sleep(0.5)
        for child in children:
            status = child.process.poll()
            if status is None or stopping:
                continue
            now = time.monotonic()
            child.restarts = [t for t in child.restarts if now - t < RESTART_WINDOW_S] + [now]
            if len(child.restarts) > MAX_RESTARTS:
                say(f"{child.name} keeps exiting (code {status}); stopping everything")
                stopping, code = True, 1
                break
            say(f"{child.name} exited with code {status}; restarting it ({len(child.restarts)}/{MAX_RESTARTS})")
            time.sleep(min(2 ** len(child.restarts) / 4, 5))
            child.start()
    say("stopping…")
    for child in children:
        child.stop()
    deadline = time.monotonic() + 10
    for child in children:
        while child.process and child.process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.1)
        child.kill()
    return code


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main(sys.argv[1:]))
