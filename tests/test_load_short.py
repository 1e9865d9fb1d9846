"""The load bench's short version (issue 8): ``bench/load_bench.py --check`` at a few calls and
mails a second for a few seconds, with every real process the full run has (two gunicorn
nodes, two job workers, the mail listener, python-socketio operators, an SMTP client, the
PBX) on PostgreSQL.  It fails on any error, a call not answered, a call dialled without a
pop or popped twice, a mail not processed, or a load counter that disagrees with the items
held.  The full figure is ``bench/load_bench.py --seconds 300``."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import BACKEND

pytestmark = pytest.mark.processes
ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.skipif(BACKEND != "postgresql", reason="the load bench runs on PostgreSQL (its own database)")
def test_a_short_load_run_is_clean():
    command = [sys.executable, "bench/load_bench.py", "--check", "--seconds", "8", "--calls", "5", "--mails", "3",
               "--operators", "20", "--customers", "2000", "--client-procs", "1", "--drain", "60"]
    run = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=280)
    report = run.stdout + run.stderr[-3000:]
    assert run.returncode == 0, report
    assert "errors: 0 " in run.stdout, report
    assert "calls: 40 newCall sent" in run.stdout, report
