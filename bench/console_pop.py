"""Screen-pop latency (issue 7): from sending ``newCall`` to the ``screen_pop`` event
arriving in a python-socketio client of the chosen operator.

Dataset: 200,000 customers and 2,000,000 timeline items (bench/customers_bench.py's
generator).  Calls arrive at a steady rate (default 20/s for 60 s) from random known
customers; each pop is answered by a hangup so operators free up again (wrap-up 0).
Runs with one web node and with two (webhook on node A, operators connected to node B);
each node is gunicorn as ``./run.sh web`` starts it (WEB_WORKERS processes, default one per core).

Usage: .venv/bin/python bench/console_pop.py [sqlite|postgresql] [--rate 20 --seconds 60]
"""
from __future__ import annotations

import argparse
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace

import requests
import socketio
from _setup import ROOT, fresh_database, percentile

OPERATORS = 40


def start_web(env: dict, port: int) -> subprocess.Popen:
    """A web node exactly as ``./run.sh web`` starts it (WEB_WORKERS, default one per core)."""
    from core.supervise import web_command

    env = {**env, "HOST": "127.0.0.1", "PORT": str(port)}
    os.environ.update(HOST="127.0.0.1", PORT=str(port))  # web_command reads them
    process = subprocess.Popen(web_command(), cwd=ROOT, env=env, start_new_session=True)
    for _ in range(300):
        try:
            requests.get(f"http://127.0.0.1:{port}/login", timeout=2)
            return process
        except requests.RequestException:
            time.sleep(0.1)
    raise RuntimeError("web node did not start")


def free_port() -> int:
    import socket as s

    with s.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def prepare(app) -> str:
    """Operators (available, tier 3), wrap-up 0, a CTI token; returns the token."""
    from accounts.models import User
    from accounts.service import create_token, create_user
    from extensions import db
    from routing import store
    from routing.presence import set_presence

    with app.app_context():
        for index in range(OPERATORS):
            user = create_user(f"popop{index}", "bench-password", "operator", tier=3, extension=str(7000 + index))
            db.session.flush()
            set_presence(db.session.get(User, user.id), "available")
        policy = store.current_policy()
        policy["wrap_up_s"] = 0
        store.save_policy(policy, None, None)
        _, token = create_token("bench", "cti")
        db.session.commit()
    return token


def run(node_a: str, node_b: str, token: str, rate: float, seconds: float, customers: int, label: str) -> None:
    arrivals: dict[str, float] = {}
    sent: dict[str, float] = {}
    done = queue.Queue()
    clients = []
    for index in range(OPERATORS):
        session = requests.Session()
        login = session.post(f"{node_b}/api/v1/auth/login", json={"username": f"popop{index}", "password": "bench-password"})
        login.raise_for_status()
        client = socketio.Client(reconnection=False)

        def on_pop(data, _client=client):
            arrivals[data["call_id"]] = time.perf_counter()
            done.put(data["call_id"])

        client.on("screen_pop", on_pop, namespace="/console")
        cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
        client.connect(node_b, headers={"Cookie": cookie}, namespaces=["/console"], transports=["websocket"])
        clients.append(client)
    hangups = ThreadPoolExecutor(16)
    http = requests.Session()

    def hangup_after_pop():
        while True:
            call_id = done.get()
            if call_id is None:
                return
            hangups.submit(http.post, f"{node_a}/api/v1/cti/{token}", data={"event": "hangup", "callId": call_id,
                                                                              "cause": "normalClearing"})

    threading.Thread(target=hangup_after_pop, daemon=True).start()
    senders = ThreadPoolExecutor(32)
    errors = []

    def send(index: int):
        call_id = f"{label}-{index}"
        number = "0" + str(90_0000_0000 + 10_000_000 + 1 + (index * 7919) % customers)
        sent[call_id] = time.perf_counter()
        try:
            answer = requests.post(f"{node_a}/api/v1/cti/{token}", data={"event": "newCall", "from": number, "to": "100",
                                                                        "direction": "in", "callId": call_id}, timeout=10)
            if answer.status_code != 200:
                errors.append(answer.status_code)
            elif answer.json().get("action") != "dial":
                errors.append(answer.json().get("action"))
        except requests.RequestException as error:
            errors.append(str(error))

    total = int(rate * seconds)
    started = time.perf_counter()
    for index in range(total):
        target = started + index / rate
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        senders.submit(send, index)
    senders.shutdown(wait=True)
    time.sleep(2)
    done.put(None)
    for client in clients:
        client.disconnect()
    latencies = [arrivals[c] - sent[c] for c in sent if c in arrivals]
    lost = total - len(latencies)
    print(f"{label}: {total} calls at {rate}/s over {seconds:.0f} s — pop latency p50 {percentile(latencies, .5) * 1000:.1f} ms, "
          f"p95 {percentile(latencies, .95) * 1000:.1f} ms, p99 {percentile(latencies, .99) * 1000:.1f} ms; "
          f"pops missing {lost}, non-dial answers/errors {len(errors)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", nargs="?", default="postgresql", choices=["sqlite", "postgresql"])
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--timeline", type=int, default=2_000_000)
    parser.add_argument("--purchases", type=int, default=200_000)
    args = parser.parse_args()

    sys.path.insert(0, str(ROOT / "bench"))
    import customers_bench

    from core.redis_server import PrivateRedis

    redis = PrivateRedis()
    database_url, drop = fresh_database(args.backend)
    nodes = []
    try:
        print(f"dataset: {args.customers} customers, {args.timeline} timeline items, {args.purchases} purchases "
              f"on {args.backend}", flush=True)
        customers_bench.generate(database_url, SimpleNamespace(customers=args.customers, purchases=args.purchases,
                                                               timeline=args.timeline, big=100_000))
        os.environ["REDIS_URL"] = redis.url
        from _setup import make_app

        app = make_app(database_url, redis.url)
        token = prepare(app)
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis.url, "TSUNAGU_DEMO": "0"}
        port_a, port_b = free_port(), free_port()
        nodes.append(start_web(env, port_a))
        node_a = f"http://127.0.0.1:{port_a}"
        run(node_a, node_a, token, args.rate, min(args.seconds, 20), args.customers, "one-node")
        nodes.append(start_web(env, port_b))
        node_b = f"http://127.0.0.1:{port_b}"
        run(node_a, node_b, token, args.rate, args.seconds, args.customers, "two-nodes")
    finally:
        for process in nodes:
            os.killpg(process.pid, signal.SIGTERM)
        drop()
        redis.stop()


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    main()
