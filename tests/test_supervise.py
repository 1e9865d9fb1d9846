"""The process supervisor behind ./run.sh: a crashed child is reported and restarted, one
that keeps crashing stops the run with a non-zero exit; SIGTERM stops every child."""
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def supervise(children: dict, redis_url: str) -> subprocess.Popen:
    code = ("import sys, core.supervise as s\n"
            f"s.commands = lambda role: {children!r}\n"
            "s.prepare = lambda role: None\n"
            "sys.exit(s.main(['all']))\n")
    env = {**os.environ, "REDIS_URL": redis_url, "TSUNAGU_MAX_RESTARTS": "2"}
    return subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True, start_new_session=True)


def test_crashing_child_is_reported_restarted_then_the_run_stops(redis_url):
    process = supervise({"crasher": [sys.executable, "-c", "import sys; sys.exit(3)"]}, redis_url)
    output, _ = process.communicate(timeout=60)
    assert process.returncode == 1
    assert "crasher exited with code 3; restarting it (1/2)" in output
    assert "crasher keeps exiting (code 3); stopping everything" in output


def test_sigterm_stops_every_child(redis_url, tmp_path):
    marker = tmp_path / "child.pid"
    child = [sys.executable, "-c", f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(600)"]
    process = supervise({"sleeper": child}, redis_url)
    deadline = time.monotonic() + 20
    while not marker.exists() and time.monotonic() < deadline:
        time.sleep(0.1)
    child_pid = int(marker.read_text())
    os.kill(process.pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=30)
    assert process.returncode == 0, output
    time.sleep(0.2)
    try:
        os.kill(child_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the child outlived the supervisor"
