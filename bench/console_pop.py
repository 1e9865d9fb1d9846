"""Screen-pop latency (issue 7): from sending ``newCall`` to the ``screen_pop`` event
arriving in a python-socketio client of the chosen operator.

Dataset: 200,000 customers and 2,000,000 timeline items (bench/customers_bench.py's
generator).  Calls arrive at a steady rate (default 20/s for 60 s) from random known
customers; each pop is answered by a hangup so operators free up again (wrap-up 0).  Each
``newCall`` is sent as a PBX sends it (a new connection, one form POST); the latency runs
from writing the request to the pop's arrival, and the webhook's answer time is printed too.
Runs with one web node and with two (webhook on node A, operators connected to node B);
each node is gunicorn as ``./run.sh web`` starts it (WEB_WORKERS processes, default one per core).

Usage: .venv/bin/python bench/console_pop.py [sqlite|postgresql] [--rate 20 --seconds 60]
       [--customers N --timeline N --purchases N] [--nodes one|two|both]
       [--in-process N [--cprofile]] [--hop N]

``--in-process N`` skips the web nodes: it sends N ``newCall``/``hangup`` pairs through
the Flask test client in this process and prints, per ``newCall``, the CPU and wall time
of the request, the time from the request's start to the pop's publish on the Redis
message queue, and the SQL statements (with ``--cprofile``, the hottest functions too).
``--hop N`` measures the rest of the way alone: N pops published from this process
(``core.realtime.push_now``, as the webhook's request does after its commit) to an operator's
client connected to a web node.
"""
from __future__ import annotations

import argparse
import http.client
import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from types import SimpleNamespace
from urllib.parse import urlencode

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


def post_event(base: str, path: str, fields: dict, sent_at: tuple[dict, str]) -> tuple[int, dict]:
    """Send one PBX event as a PBX does: a new connection, one form-encoded POST.  The
    send time is noted just before the request is written.  (http.client, not
    ``requests.post``: that builds a Session per call, 2–3 ms of this process's Python
    that would be counted as the product's latency.)"""
    host, port = base.removeprefix("http://").split(":")
    body = urlencode(fields)
    connection = http.client.HTTPConnection(host, int(port), timeout=10)
    try:
        times, key = sent_at
        times[key] = time.perf_counter()
        connection.request("POST", path, body, {"Content-Type": "application/x-www-form-urlencoded"})
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def tree_cpu(process: subprocess.Popen) -> float:
    """CPU seconds used so far by a web node (the gunicorn master and its workers)."""
    from _console_harness import children, cpu_seconds

    return sum(cpu_seconds(pid) for pid in [process.pid, *children(process.pid)])


def run(node_a: str, node_b: str, token: str, rate: float, seconds: float, customers: int, label: str,
        processes: dict[str, subprocess.Popen]) -> None:
    arrivals: dict[str, float] = {}
    sent: dict[str, float] = {}
    answered: dict[str, float] = {}  # when the webhook's answer arrived (the pop is published before it)
    done = queue.Queue()
    clients = []
    def on_pop(data):
        arrivals[data["call_id"]] = time.perf_counter()
        done.put(data["call_id"])

    for index in range(OPERATORS):
        clients.append(connect_operator(node_b, f"popop{index}", on_pop))
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
        fields = {"event": "newCall", "from": caller_number(index, customers), "to": "100", "direction": "in",
                  "callId": call_id}
        try:
            status, answer = post_event(node_a, f"/api/v1/cti/{token}", fields, sent_at=(sent, call_id))
            answered[call_id] = time.perf_counter()
            if status != 200:
                errors.append(status)
            elif answer.get("action") != "dial":
                errors.append(answer.get("action"))
        except OSError as error:
            errors.append(str(error))

    total = int(rate * seconds)
    cpu_before = {name: tree_cpu(process) for name, process in processes.items()}
    bench_before = time.process_time()
    started = time.perf_counter()
    for index in range(total):
        target = started + index / rate
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        senders.submit(send, index)
    senders.shutdown(wait=True)
    time.sleep(2)
    cpu_per_call = {name: (tree_cpu(process) - cpu_before[name]) / total for name, process in processes.items()}
    bench_per_call = (time.process_time() - bench_before) / total
    done.put(None)
    for client in clients:
        client.disconnect()
    latencies = [arrivals[c] - sent[c] for c in sent if c in arrivals]
    answers = [answered[c] - sent[c] for c in sent if c in answered]
    lost = total - len(latencies)
    print(f"{label}: {total} calls at {rate}/s over {seconds:.0f} s — pop latency p50 {percentile(latencies, .5) * 1000:.1f} ms, "
          f"p95 {percentile(latencies, .95) * 1000:.1f} ms, p99 {percentile(latencies, .99) * 1000:.1f} ms; "
          f"pops missing {lost}, non-dial answers/errors {len(errors)}; newCall answered p50 "
          f"{percentile(answers, .5) * 1000:.1f} ms, p99 {percentile(answers, .99) * 1000:.1f} ms", flush=True)
    # The machine may be shared: CPU per call (newCall + hangup) shows what the run cost.
    print("  CPU per call: " + ", ".join(f"{name} {value * 1000:.1f} ms" for name, value in cpu_per_call.items())
          + f", this bench process {bench_per_call * 1000:.1f} ms; load average {os.getloadavg()[0]:.1f}", flush=True)


def caller_number(index: int, customers: int) -> str:
    """A known customer's number in national format (the generator's phones)."""
    return "0" + str(90_0000_0000 + 10_000_000 + 1 + (index * 7919) % customers)


def in_process(app, token: str, count: int, customers: int, cprofile: bool) -> None:
    """Per ``newCall`` in this process: CPU, wall, start → pop published, SQL statements."""
    import cProfile
    import pstats

    from sqlalchemy import event

    from extensions import db, socketio

    manager = socketio.server.manager
    publish = manager._publish
    published: dict[str, float] = {}

    def timed_publish(data):
        if data.get("event") == "screen_pop":
            published[data["data"][0]["call_id"] if isinstance(data["data"], (list, tuple)) else data["data"]["call_id"]] = \
                time.perf_counter()
        return publish(data)

    manager._publish = timed_publish
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", lambda *a: statements.append(a[2]))
    client = app.test_client()
    url = f"/api/v1/cti/{token}"
    profiler = cProfile.Profile() if cprofile else None
    cpu, wall, to_pop, counts, hangup_cpu = [], [], [], [], []
    warmup = 20
    for index in range(count + warmup):
        call_id = f"in-process-{index}"
        statements.clear()
        if profiler is not None and index >= warmup:
            profiler.enable()
        started, started_cpu = time.perf_counter(), time.process_time()
        answer = client.post(url, data={"event": "newCall", "from": caller_number(index, customers), "to": "100",
                                        "direction": "in", "callId": call_id})
        ended, ended_cpu = time.perf_counter(), time.process_time()
        if profiler is not None:
            profiler.disable()
        assert answer.status_code == 200 and answer.json["action"] == "dial", answer.json
        if index == warmup:
            print(f"SQL of one newCall ({len(statements)} statements):")
            for statement in statements:
                print("   ", " ".join(statement.split())[:160])
        if index >= warmup:
            cpu.append(ended_cpu - started_cpu)
            wall.append(ended - started)
            to_pop.append(published.get(call_id, float("nan")) - started)
            counts.append(len(statements))
        statements.clear()
        started_cpu = time.process_time()
        client.post(url, data={"event": "hangup", "callId": call_id, "cause": "normalClearing"})
        if index == warmup:
            print(f"SQL of its hangup ({len(statements)} statements):")
            for statement in statements:
                print("   ", " ".join(statement.split())[:160])
        if index >= warmup:
            hangup_cpu.append(time.process_time() - started_cpu)
    ms = 1000
    print(f"newCall in process ({count} calls): CPU p50 {percentile(cpu, .5) * ms:.2f} ms, "
          f"wall p50 {percentile(wall, .5) * ms:.2f} / p99 {percentile(wall, .99) * ms:.2f} ms, "
          f"start → pop published p50 {percentile(to_pop, .5) * ms:.2f} / p99 {percentile(to_pop, .99) * ms:.2f} ms, "
          f"SQL statements {sum(counts) / len(counts):.1f}; hangup CPU p50 {percentile(hangup_cpu, .5) * ms:.2f} ms",
          flush=True)
    if profiler is not None:
        stats = pstats.Stats(profiler)
        stats.sort_stats("cumulative").print_stats(70)
        stats.sort_stats("tottime").print_stats(30)


def connect_operator(node: str, username: str, on_pop) -> socketio.Client:
    session = requests.Session()
    session.post(f"{node}/api/v1/auth/login", json={"username": username, "password": "bench-password"}) \
        .raise_for_status()
    client = socketio.Client(reconnection=False)
    client.on("screen_pop", on_pop, namespace="/console")
    cookie = "; ".join(f"{k}={v}" for k, v in session.cookies.items())
    client.connect(node, headers={"Cookie": cookie}, namespaces=["/console"], transports=["websocket"])
    return client


def hop(app, node: str, count: int, rate: float) -> None:
    """Publish → arrival: the message-queue hop and the web node's and client's threads."""
    from accounts.models import User
    from core.realtime import push_now, user_room
    from extensions import db

    arrivals: dict[str, float] = {}
    client = connect_operator(node, "popop0", lambda data: arrivals.__setitem__(data["call_id"], time.perf_counter()))
    with app.app_context():
        operator = db.session.scalar(db.select(User.id).where(User.username == "popop0"))
        # A pop's size: ten timeline items and a profile.
        body = {"ticket_id": 1, "caller": "+819000000001", "customer": {"name": "顧客 " * 20, "rank": "gold"},
                "recent_interactions": [{"id": i, "kind": "call", "summary": "対応履歴 " * 10, "detail": {}}
                                        for i in range(10)], "open_tickets": [], "suggested_articles": []}
        sent = {}
        for index in range(count + 10):
            call_id = f"hop-{index}"
            sent[call_id] = time.perf_counter()
            push_now("screen_pop", {**body, "call_id": call_id}, user_room(operator))
            time.sleep(1 / rate)
    time.sleep(1)
    client.disconnect()
    latencies = [arrivals[c] - sent[c] for c in list(sent)[10:] if c in arrivals]
    print(f"hop publish → client ({count} pops at {rate}/s): p50 {percentile(latencies, .5) * 1000:.2f} ms, "
          f"p95 {percentile(latencies, .95) * 1000:.2f} ms, p99 {percentile(latencies, .99) * 1000:.2f} ms; "
          f"missing {count - len(latencies)}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", nargs="?", default="postgresql", choices=["sqlite", "postgresql"])
    parser.add_argument("--rate", type=float, default=20)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--timeline", type=int, default=2_000_000)
    parser.add_argument("--purchases", type=int, default=200_000)
    parser.add_argument("--nodes", default="both", choices=["one", "two", "both"])
    parser.add_argument("--in-process", type=int, default=0, metavar="N")
    parser.add_argument("--cprofile", action="store_true")
    parser.add_argument("--hop", type=int, default=0, metavar="N")
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
                                                               timeline=args.timeline,
                                                               big=min(100_000, args.timeline // 20)))
        os.environ["REDIS_URL"] = redis.url
        from _setup import make_app

        app = make_app(database_url, redis.url)
        token = prepare(app)
        if args.in_process:
            in_process(app, token, args.in_process, args.customers, args.cprofile)
            return
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": redis.url, "TSUNAGU_DEMO": "0"}
        port_a, port_b = free_port(), free_port()
        nodes.append(start_web(env, port_a))
        node_a = f"http://127.0.0.1:{port_a}"
        if args.hop:
            hop(app, node_a, args.hop, args.rate)
            return
        if args.nodes in ("one", "both"):
            run(node_a, node_a, token, args.rate, min(args.seconds, 20), args.customers, "one-node",
                {"node A": nodes[0]})
        if args.nodes in ("two", "both"):
            nodes.append(start_web(env, port_b))
            node_b = f"http://127.0.0.1:{port_b}"
            run(node_a, node_b, token, args.rate, args.seconds, args.customers, "two-nodes",
                {"node A": nodes[0], "node B": nodes[1]})
    finally:
        for process in nodes:
            os.killpg(process.pid, signal.SIGTERM)
        for process in nodes:  # their last disconnect handlers still write: drop the database after
            process.wait(timeout=30)
        drop()
        redis.stop()


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    main()
