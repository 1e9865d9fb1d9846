"""1,000 concurrent console connections on one web process (issue 7).

One web process started as ``./run.sh web`` starts it (``core.supervise.web_command``, with
WEB_WORKERS=1 and WEB_THREADS=1100: in threading mode each open websocket holds a thread),
on a fresh database and a private Redis.  N supervisors (so every socket is in the
supervisors' room) log in through ``POST /api/v1/auth/login`` and open ``/console``
websockets (python-socketio ``AsyncClient``, spread over a few client processes so the
client side is not what gets measured).

Figures: RSS (VmRSS of the gunicorn master and its worker) before and after the
connections, memory per connection; ``queue_stats`` fan-out: the bench process publishes a
push through the app's real path (``core.realtime.push_now`` → Redis message queue → the web
process → every socket, as a worker does), and the clients note when it arrives; first and
last arrival over ~20 rounds.  The payload is what ``routing.stats.push_if_changed`` sends
(queues + every operator), plus a ``bench_round`` key to tell rounds apart.  Clients stamp the
message when its frame arrives, before decoding the JSON (the browser's parse is not the
server's fan-out).

Usage: .venv/bin/python bench/console_connections.py [postgresql|sqlite] [--connections 1000]
       [--rounds 20] [--client-procs 2] [--worker-connections N]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import re
import time

from _console_harness import bulk_users, load_average, login, tree_status
from tickets_harness import Stack, percentile

PREFIX = '2/console,["queue_stats"'
ROUND = re.compile(r'"bench_round":(\d+)')
WARM_UP = 10  # connections open when the "before" RSS is read (first-connection code paths loaded)


# ---------- client processes ----------

def client_process(url: str, usernames: list[str], pipe) -> None:
    asyncio.run(_client_main(url, usernames, pipe))


async def _client_main(url: str, usernames: list[str], pipe) -> None:
    import aiohttp
    import socketio

    loop = asyncio.get_running_loop()
    arrivals: dict[int, list[float]] = {}
    reported: set[int] = set()
    clients: list = []

    def report(number: int) -> None:
        if number not in reported:
            reported.add(number)
            pipe.send(("round", number, arrivals.get(number, [])))

    class Probe(socketio.AsyncClient):
        async def _handle_eio_message(self, data):
            if isinstance(data, str) and data.startswith(PREFIX):
                now = time.perf_counter()
                match = ROUND.search(data, max(0, len(data) - 64))
                number = int(match.group(1)) if match else -1
                stamps = arrivals.setdefault(number, [])
                stamps.append(now)
                if len(stamps) == 1:
                    loop.call_later(30, report, number)  # a client that never gets it
                if len(stamps) >= len(clients):
                    report(number)
                return
            await super()._handle_eio_message(data)

    cookies: list[str] = []
    async with aiohttp.ClientSession() as http:
        gate = asyncio.Semaphore(20)

        async def one_login(name):
            async with gate:
                cookies.append((await login(http, url, name))[0])

        await asyncio.gather(*(one_login(n) for n in usernames))
    pipe.send(("logged_in", len(cookies)))
    failures: list[str] = []
    while True:
        command = await loop.run_in_executor(None, pipe.recv)
        if command[0] == "connect":
            wanted = command[1]
            start = len(clients) + len(failures)
            async def one_connect(cookie, gate=asyncio.Semaphore(25)):
                async with gate:
                    if len(failures) >= 20:  # the server refuses: report instead of waiting out every socket
                        failures.append("not tried after 20 failures")
                        return
                    client = Probe(reconnection=False)
                    try:
                        await client.connect(url, headers={"Cookie": cookie}, namespaces=["/console"],
                                             transports=["websocket"], wait_timeout=20)
                        clients.append(client)
                    except Exception as error:  # noqa: BLE001 - counted and reported
                        failures.append(repr(error))
                        await client.disconnect()

            began = time.perf_counter()
            await asyncio.gather(*(one_connect(c) for c in cookies[start:start + wanted]))
            pipe.send(("connected", len(clients), failures[:3], len(failures), time.perf_counter() - began))
        elif command[0] == "count":
            pipe.send(("count", sum(1 for c in clients if c.connected)))
        elif command[0] == "close":
            await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
            pipe.send(("closed",))
            return


# ---------- the bench ----------

class Clients:
    """Client processes, each holding a share of the connections."""

    def __init__(self, url: str, usernames: list[str], processes: int):
        context = multiprocessing.get_context("spawn")
        self.pipes, self.processes = [], []
        for index in range(processes):
            parent, child = context.Pipe()
            process = context.Process(target=client_process, args=(url, usernames[index::processes], child),
                                      daemon=True)
            process.start()
            self.pipes.append(parent)
            self.processes.append(process)

    def expect(self, kind: str, timeout: float = 600) -> list[tuple]:
        answers = []
        for pipe in self.pipes:
            if not pipe.poll(timeout):
                raise RuntimeError(f"a client process did not answer {kind!r}")
            message = pipe.recv()
            while message[0] == "round" and kind != "round":  # a late round report: drop it
                message = pipe.recv()
            if message[0] != kind:
                raise RuntimeError(f"expected {kind!r}, got {message!r}")
            answers.append(message)
        return answers

    def send(self, *command) -> None:
        for pipe in self.pipes:
            pipe.send(command)

    def connect(self, total: int) -> tuple[int, int, list, float]:
        share = [total // len(self.pipes) + (1 if i < total % len(self.pipes) else 0) for i in range(len(self.pipes))]
        for pipe, count in zip(self.pipes, share, strict=True):
            pipe.send(("connect", count))
        answers = self.expect("connected")
        return (sum(a[1] for a in answers), sum(a[3] for a in answers), [e for a in answers for e in a[2]],
                max(a[4] for a in answers))

    def stop(self) -> None:
        try:
            self.send("close")
            self.expect("closed", timeout=60)
        finally:
            for process in self.processes:
                process.join(10)
                if process.is_alive():
                    process.kill()


def stats_payload(app) -> tuple[dict, float]:
    """The body ``routing.stats.push_if_changed`` pushes, and the time to build it."""
    from routing import stats

    with app.app_context():
        began = time.perf_counter()
        body = stats.queues()
        body["operators"] = stats.operators()
        body["service_level"] = stats.service_level()
        body["history"] = stats.history()
        elapsed = time.perf_counter() - began
        from extensions import db

        db.session.rollback()
    return body, elapsed


def fan_out(app, clients: Clients, body: dict, rounds: int, expected: int) -> list[dict]:
    from core.realtime import SUPERVISORS, push_now

    results = []
    with app.app_context():
        for number in range(rounds):
            payload = {**body, "bench_round": number}  # last key: the clients find it at the end
            published = time.perf_counter()
            push_now("queue_stats", payload, SUPERVISORS)
            stamps = [s for answer in clients.expect("round", timeout=60) for s in answer[2]]
            results.append({"received": len(stamps), "expected": expected,
                            "first": min(stamps) - published if stamps else float("nan"),
                            "last": max(stamps) - published if stamps else float("nan")})
            time.sleep(0.5)
    return results


def http_probe(url: str) -> str:
    """Can the process still answer a page while every socket is open?"""
    import requests

    began = time.perf_counter()
    try:
        answer = requests.get(f"{url}/login", timeout=10)
        return f"HTTP {answer.status_code} in {(time.perf_counter() - began) * 1000:.0f} ms"
    except requests.RequestException as error:
        return f"no answer within 10 s ({type(error).__name__})"


def mb(kb: int) -> str:
    return f"{kb / 1024:.1f} MB"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("backend", nargs="?", default="postgresql", choices=["postgresql", "sqlite"])
    parser.add_argument("--connections", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--threads", type=int, default=None, help="WEB_THREADS (default: connections + 100)")
    parser.add_argument("--worker-connections", type=int, default=None,
                        help="gunicorn --worker-connections (default: gunicorn's 1000, as ./run.sh web)")
    args = parser.parse_args()

    os.environ["WEB_WORKERS"] = "1"
    os.environ["WEB_THREADS"] = str(args.threads or args.connections + 100)
    if args.worker_connections:  # gunicorn reads extra options from this variable
        os.environ["GUNICORN_CMD_ARGS"] = f"--worker-connections {args.worker_connections}"
    stack = Stack(args.backend)
    clients = None
    try:
        app = stack.app()
        usernames = bulk_users(app, "sup", args.connections, "supervisor")
        url = stack.web()
        master = stack.processes[-1].pid
        body, build_s = stats_payload(app)
        payload_kb = len(__import__("json").dumps({**body, "bench_round": 0}, separators=(",", ":"))) / 1024
        print(f"dataset: {args.connections} supervisors on {args.backend}; one web process "
              f"(gunicorn gthread, 1 worker, {os.environ['WEB_THREADS']} threads, worker connections "
              f"{args.worker_connections or 'gunicorn default 1000'}); queue_stats payload "
              f"{payload_kb:.0f} KB (queues + {len(body['operators'])} operators), built in "
              f"{build_s * 1000:.0f} ms; load {load_average()}", flush=True)

        clients = Clients(url, usernames, args.client_procs)
        clients.expect("logged_in")
        idle = tree_status(master)
        connected, failed, errors, _ = clients.connect(min(WARM_UP, args.connections))
        time.sleep(2)
        before = tree_status(master)
        connected, failed2, errors2, connect_s = clients.connect(args.connections - connected - failed)
        failed += failed2
        errors += errors2
        time.sleep(3)
        after = tree_status(master)
        clients.send("count")
        alive = sum(a[1] for a in clients.expect("count"))
        probe = http_probe(url)
        grown = after["rss_kb"] - before["rss_kb"]
        per_connection = grown / max(1, alive - WARM_UP)
        print(f"connections: {alive} open ({failed} failed{': ' + '; '.join(errors[:3]) if errors else ''}); "
              f"the last {args.connections - WARM_UP} opened in {connect_s:.1f} s", flush=True)
        print(f"RSS (master + worker): idle {mb(idle['rss_kb'])}, with {WARM_UP} sockets {mb(before['rss_kb'])}, "
              f"with {alive} sockets {mb(after['rss_kb'])} → {per_connection:.0f} KB per connection; "
              f"threads {before['threads']} → {after['threads']}", flush=True)
        print(f"a page request with every socket open: {probe}", flush=True)

        results = fan_out(app, clients, body, args.rounds, alive)
        complete = [r for r in results if r["received"] == r["expected"]]
        lasts = [r["last"] for r in complete]
        firsts = [r["first"] for r in complete]
        final = tree_status(master)
        print(f"queue_stats fan-out to {alive} sockets, {len(results)} rounds ({len(results) - len(complete)} "
              f"incomplete: {[r['received'] for r in results if r['received'] != r['expected']]}): "
              f"first client p50 {percentile(firsts, .5) * 1000:.1f} ms; last client p50 "
              f"{percentile(lasts, .5) * 1000:.1f} ms, p95 {percentile(lasts, .95) * 1000:.1f} ms, "
              f"max {max(lasts, default=float('nan')) * 1000:.1f} ms", flush=True)
        print(f"RSS after the fan-out rounds: {mb(final['rss_kb'])}; load {load_average()}", flush=True)
    finally:
        if clients is not None:
            try:
                clients.stop()
            except Exception as error:  # noqa: BLE001 - stopping is best effort
                print(f"stopping the clients: {error!r}")
        stack.close()


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    main()
