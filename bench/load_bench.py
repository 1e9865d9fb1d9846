"""Load (issue 8, point 4): 200 simulated operators take offers while 30 calls/s and
20 mails/s arrive, against two web nodes on PostgreSQL, two workers and the mail listener.

Processes, started as ``./run.sh web|worker|mail`` starts them: two gunicorn nodes
(``core.supervise.web_command``: one worker per core, threads), two ``flask worker``, one
``flask mail``; a fresh PostgreSQL database and a private Redis.

Operators are python-socketio ``AsyncClient``s (in a few client processes), half on node A and
half on node B.  Each logs in through the API, sets itself ``available`` with the socket
``presence`` event, accepts every ``offer`` through ``POST /offers/{id}/accept`` as the console
does, and on ``screen_pop`` acts as its PBX extension: ``answer`` after ``--ring`` seconds and
``hangup`` after ``--talk`` more (CTI webhook).  Mail tickets assigned to it
(``ticket_assigned``) are solved after ``--handle`` seconds (``PATCH /tickets/{id}``), so
email capacity frees up as it would in a working team.  Wrap-up is ``--wrap-up`` seconds: with the
defaults an operator carries a call in about 4 s, so 200 of them can take 30 calls/s.

The PBX sends ``newCall`` at a steady rate, alternating nodes, from distinct customers; a call
answered ``queue`` is asked again every 5 s and hung up (``cancel``) after ``--max-queue``
seconds.  Mail: smtplib clients send to the listener at a steady rate (half from known
customers).

Reported: throughput (calls/s and mails/s turned into tickets), pop latency (``newCall``
sent → ``screen_pop`` at the operator) p50/p99, errors (non-2xx answers, exceptions, socket
drops, SMTP refusals, tracebacks in the servers' logs; goal 0), and the RSS of every process
every 10 s, with the growth after warm-up.

Usage: .venv/bin/python bench/load_bench.py [--seconds 300] [--operators 200] [--calls 30]
       [--mails 20] [--customers 20000]
"""
from __future__ import annotations

import argparse
import asyncio
import multiprocessing
import os
import random
import re
import smtplib
import subprocess
import sys
import threading
import time
from collections import Counter
from email.message import EmailMessage
from pathlib import Path

from _console_harness import bulk_users, children, cpu_seconds, load_average, login, postgres_cpu_seconds, status
from mail_inbound import wait_port
from tickets_harness import FLASK, ROOT, Stack, free_port, percentile

MAIL_TO = "support@support.example.test"


# ---------- operators (client processes) ----------

def conflict_state(status: int, body: bytes) -> str:
    """For a 409 on an offer: the state it was in (revoked, expired…), to tell races from bugs."""
    import json

    if status != 409:
        return ""
    try:
        return f"(offer {json.loads(body)['error'].get('state')})"
    except (ValueError, KeyError, TypeError):
        return ""


def connector(aiohttp, limit: int):
    """Idle connections are dropped after 1 s, before gunicorn's 2 s keep-alive closes them:
    aiohttp does not retry a POST on a connection the server has just closed (browsers do), so
    a longer client keep-alive would count that race as server errors."""
    return aiohttp.TCPConnector(limit=limit, keepalive_timeout=1.0)


def operators_process(nodes: list[str], token: str, options: dict, pipe) -> None:
    asyncio.run(_operators(nodes, token, options, pipe))


async def _operators(nodes, token, options, pipe) -> None:
    import aiohttp
    import socketio

    loop = asyncio.get_running_loop()
    counts: Counter = Counter()
    errors: Counter = Counter()
    pops: list[tuple[str, float, str]] = []
    phone_tickets: set[int] = set()
    handled_calls: set[str] = set()
    tasks: set[asyncio.Task] = set()
    stopping = False
    http = aiohttp.ClientSession(connector=connector(aiohttp, 100), cookie_jar=aiohttp.DummyCookieJar(),
                                 timeout=aiohttp.ClientTimeout(total=60))

    async def request(label, method, url, **kwargs):
        try:
            async with http.request(method, url, **kwargs) as answer:
                body = await answer.read()
                counts[label] += 1
                if answer.status >= 300:
                    errors[f"{label}: HTTP {answer.status} {conflict_state(answer.status, body)}".strip()] += 1
                return answer.status
        except Exception as error:  # noqa: BLE001 - every failure is counted
            errors[f"{label}: {type(error).__name__} {error}"[:120]] += 1
            return None

    def spawn(coroutine):
        task = loop.create_task(coroutine)
        tasks.add(task)
        task.add_done_callback(tasks.discard)

    async def pbx_leg(node, call_id, username):
        """The operator's phone: picked up after ringing, hung up after talking."""
        cti = f"{node}/api/v1/cti/{token}"
        await asyncio.sleep(options["ring"])
        await request("cti answer", "POST", cti, data={"event": "answer", "callId": call_id, "user": username,
                                                        "direction": "in"})
        await asyncio.sleep(options["talk"])
        await request("cti hangup", "POST", cti, data={"event": "hangup", "callId": call_id,
                                                        "cause": "normalClearing"})

    async def solve(node, headers, ticket_id):
        await asyncio.sleep(options["handle"])
        if ticket_id not in phone_tickets:
            await request("solve mail ticket", "PATCH", f"{node}/api/v1/tickets/{ticket_id}", headers=headers,
                          json={"status": "solved"})

    async def start(index, username):
        node = nodes[index % len(nodes)]
        cookie, csrf = await login(http, node, username)
        headers = {"Cookie": cookie, "X-CSRF-Token": csrf}
        client = socketio.AsyncClient(reconnection=False)

        @client.on("screen_pop", namespace="/console")
        async def on_pop(data):
            pops.append((data["call_id"], time.perf_counter(), username))
            if data.get("ticket_id"):
                phone_tickets.add(data["ticket_id"])
            if data["call_id"] not in handled_calls:
                handled_calls.add(data["call_id"])
                spawn(pbx_leg(node, data["call_id"], username))

        @client.on("offer", namespace="/console")
        async def on_offer(data):
            counts["offers"] += 1
            spawn(request("accept offer", "POST", f"{node}/api/v1/offers/{data['offer_id']}/accept",
                          headers=headers))

        @client.on("ticket_assigned", namespace="/console")
        async def on_assigned(data):
            counts["ticket_assigned"] += 1
            if options["handle"] >= 0:
                spawn(solve(node, headers, data["ticket_id"]))

        @client.on("disconnect", namespace="/console")
        async def on_disconnect(reason=None):
            if not stopping:
                errors[f"socket dropped ({reason})"] += 1

        await client.connect(node, headers={"Cookie": cookie}, namespaces=["/console"], transports=["websocket"],
                             wait_timeout=30)
        ack = await client.call("presence", {"presence": "available"}, namespace="/console", timeout=60)
        if not isinstance(ack, dict) or ack.get("presence") != "available":
            errors[f"presence ack {ack!r}"[:120]] += 1
        return client

    gate = asyncio.Semaphore(10)

    async def guarded(index, username):
        async with gate:
            try:
                return await start(index, username)
            except Exception as error:  # noqa: BLE001 - counted
                errors[f"operator start: {error!r}"[:160]] += 1
                return None

    clients = [c for c in await asyncio.gather(*(guarded(i, u) for i, u in options["indexed"])) if c]
    pipe.send(("ready", len(clients), dict(errors)))
    await loop.run_in_executor(None, pipe.recv)  # "finish"
    deadline = time.monotonic() + options["ring"] + options["talk"] + max(options["handle"], 0) + 30
    while tasks and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
    counts["unfinished tasks"] = len(tasks)
    stopping = True
    pipe.send(("report", dict(counts), dict(errors), pops))
    await asyncio.gather(*(c.disconnect() for c in clients), return_exceptions=True)
    await http.close()


# ---------- the PBX (its own process, so its clock is not held up) ----------

def pbx_process(nodes: list[str], token: str, numbers: list[str], options: dict, pipe) -> None:
    asyncio.run(_pbx(nodes, token, numbers, options, pipe))


async def _pbx(nodes, token, numbers, options, pipe) -> None:
    import aiohttp

    errors: Counter = Counter()
    calls: dict[str, dict] = {}
    http = aiohttp.ClientSession(connector=connector(aiohttp, 200), cookie_jar=aiohttp.DummyCookieJar(),
                                 timeout=aiohttp.ClientTimeout(total=60))

    async def post(node, data):
        try:
            async with http.post(f"{node}/api/v1/cti/{token}", data=data) as answer:
                body = await answer.json(content_type=None) if answer.status == 200 else await answer.text()
                if answer.status != 200:
                    errors[f"cti {data['event']}: HTTP {answer.status}"] += 1
                    return None
                return body
        except Exception as error:  # noqa: BLE001 - counted
            errors[f"cti {data['event']}: {type(error).__name__} {error}"[:120]] += 1
            return None

    async def call(index):
        node = nodes[index % len(nodes)]
        call_id = f"load-{index}"
        record = calls[call_id] = {"sent": time.perf_counter(), "first": None, "final": None}
        new_call = {"event": "newCall", "from": numbers[index % len(numbers)], "to": "0500000000",
                    "direction": "in", "callId": call_id}
        answer = await post(node, new_call)
        record["first"] = record["final"] = (answer or {}).get("action", "error")
        waited = 0.0
        while record["final"] == "queue" and waited < options["max_queue"]:
            await asyncio.sleep(5)
            waited += 5
            answer = await post(node, new_call)
            record["final"] = (answer or {}).get("action", "error")
        if record["final"] == "queue":  # the caller gives up
            await post(node, {"event": "hangup", "callId": call_id, "cause": "cancel"})

    total = int(options["rate"] * options["seconds"])
    pending = []
    started = time.perf_counter()
    for index in range(total):
        delay = started + index / options["rate"] - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        pending.append(asyncio.ensure_future(call(index)))
    sending_s = time.perf_counter() - started
    await asyncio.gather(*pending)
    await http.close()
    pipe.send(("report", calls, dict(errors), sending_s))


# ---------- mail ----------

class MailSender:
    """smtplib clients sending at a steady total rate to the listener."""

    def __init__(self, port: int, rate: float, seconds: float, customers: int, connections: int = 4):
        self.port, self.rate, self.seconds, self.customers = port, rate, seconds, customers
        self.connections = connections
        self.accepted = 0
        self.errors: Counter = Counter()
        self.lock = threading.Lock()

    def message(self, index: int) -> tuple[str, bytes]:
        if index % 2 == 0:
            sender = f"customer{2 * (1 + (index * 7919) % (self.customers // 2))}@example.jp"
        else:
            sender = f"guest{index}@example.net"
        message = EmailMessage()
        message["From"] = f"お客様 {index} <{sender}>"
        message["To"] = MAIL_TO
        message["Subject"] = f"お問い合わせ {index}"
        message["Message-ID"] = f"<load.{index}.{os.getpid()}@example.jp>"
        message.set_content(f"注文番号 {index} の商品について問い合わせます。配送状況を教えてください。\n" * 6)
        return sender, message.as_bytes(policy=message.policy.clone(linesep="\r\n"))

    def _client(self, lane: int, started: float) -> None:
        index, connection, sent_here = lane, None, 0
        while index < int(self.rate * self.seconds):
            delay = started + index / self.rate - time.perf_counter()
            if delay > 0:
                time.sleep(delay)
            sender, raw = self.message(index)
            try:
                if connection is None:
                    connection = smtplib.SMTP("127.0.0.1", self.port, timeout=60)
                connection.sendmail(sender, [MAIL_TO], raw)
                with self.lock:
                    self.accepted += 1
                sent_here += 1
                if sent_here % 100 == 0:
                    connection.quit()
                    connection = None
            except (OSError, smtplib.SMTPException) as error:
                with self.lock:
                    self.errors[f"smtp: {type(error).__name__}"] += 1
                connection = None
            index += self.connections
        if connection is not None:
            connection.quit()

    def run(self) -> float:
        started = time.perf_counter()
        threads = [threading.Thread(target=self._client, args=(lane, started), daemon=True)
                   for lane in range(self.connections)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        return time.perf_counter() - started


# ---------- process memory ----------

class Sampler(threading.Thread):
    """Every 10 s: RSS of every server process, and calls/mails done so far."""

    def __init__(self, named: dict[str, int], app, every: float = 10):
        super().__init__(daemon=True)
        self.named, self.app, self.every = named, app, every
        self.rows: list[dict] = []
        self.halt = threading.Event()
        self.began = time.perf_counter()

    def processes(self) -> dict[str, int]:
        pids = {}
        for name, pid in self.named.items():
            pids[name] = pid
            if name.startswith("web"):
                for number, child in enumerate(sorted(children(pid)), 1):
                    pids[f"{name}.w{number}"] = child
        return pids

    def progress(self) -> dict:
        from sqlalchemy import func, select

        from console.models import Call
        from extensions import db
        from routing.models import OperatorState, WorkItem
        from tickets.models import InboundMail

        with self.app.app_context():
            presence = dict(db.session.execute(select(OperatorState.presence, func.count())
                                               .group_by(OperatorState.presence)).all())
            idle = db.session.scalar(select(func.count()).select_from(OperatorState).where(
                OperatorState.presence == "available", OperatorState.load_total == 0))
            out = {
                "calls done": db.session.scalar(select(func.count()).select_from(Call).where(
                    Call.state == "hangup", Call.missed.is_(False))),
                "mails done": db.session.scalar(select(func.count()).select_from(InboundMail)
                                                .where(InboundMail.status == "processed")),
                "waiting": db.session.scalar(select(func.count()).select_from(WorkItem)
                                             .where(WorkItem.state == "waiting")),
                "available": presence.get("available", 0), "idle": idle, "wrap_up": presence.get("wrap_up", 0),
            }
            from core.redis_conn import get_redis

            redis = get_redis()
            out["rq high"], out["rq default"] = redis.llen("rq:queue:high"), redis.llen("rq:queue:default")
            db.session.rollback()
        return out

    def sample(self) -> None:
        row = {"t": time.perf_counter() - self.began, "load": os.getloadavg()[0]}
        row.update({name: status(pid)["rss_kb"] for name, pid in self.processes().items()})
        row.update(self.progress())
        self.rows.append(row)

    def run(self) -> None:
        while not self.halt.is_set():
            try:
                self.sample()
            except Exception as error:  # noqa: BLE001 - a missed sample is not fatal
                print(f"sample failed: {error!r}", flush=True)
            self.halt.wait(self.every)


PROGRESS = ("calls done", "mails done", "waiting", "available", "idle", "wrap_up", "rq high", "rq default")


def memory_table(rows: list[dict], warm_up_s: float) -> None:
    names = [k for k in rows[-1] if k not in ("t", "load", *PROGRESS)]
    print("RSS in MB every 10 s; then calls done (answered and hung up), mails done (processed), items "
          "waiting, operators available (idle: available and holding nothing) / in wrap-up, jobs queued in "
          "RQ's high and default queues:")
    print("   t  load  " + " ".join(f"{n:>8}" for n in names) + "".join(f" {n:>10}" for n in PROGRESS))
    for row in rows:
        print(f"{row['t']:4.0f} {row['load']:5.1f}  " + " ".join(f"{row.get(n, 0) / 1024:8.1f}" for n in names)
              + "".join(f" {row[n]:10d}" for n in PROGRESS))
    warm = next((r for r in rows if r["t"] >= warm_up_s), rows[0])
    last = rows[-1]
    growth = ", ".join(f"{n} {(last.get(n, 0) - warm.get(n, 0)) / 1024:+.1f}" for n in names)
    print(f"growth after warm-up (sample at {warm['t']:.0f} s → {last['t']:.0f} s), MB: {growth}")


# ---------- setup and report ----------

def seed(stack: Stack, args) -> tuple[list[str], str, list[str], object]:
    """Customers (set-based, bench/customers_bench.py), operators, wrap-up, a CTI token."""
    env = {**stack.env}
    subprocess.run([sys.executable, str(ROOT / "bench/customers_bench.py"), "--phase", "generate", "--url",
                    stack.database_url, f"--customers={args.customers}", f"--purchases={args.customers}",
                    f"--timeline={args.customers * 5}", "--big=100"], cwd=ROOT, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    app = stack.app()
    usernames = bulk_users(app, "loadop", args.operators, "operator", tiers=(1, 2, 3), extension_base=7000)
    from accounts.service import create_token
    from extensions import db
    from routing import store

    with app.app_context():
        policy = store.current_policy()
        policy["wrap_up_s"] = args.wrap_up
        store.save_policy(policy, None, None)
        _, token = create_token("load bench", "cti")
        db.session.commit()
    # Callers: distinct customers, national format as PBXs send (bench/customers_bench.py's numbers).
    order = list(range(1, args.customers + 1))
    random.Random(8).shuffle(order)
    numbers = ["090" + f"{10000000 + i:08d}" for i in order]
    return usernames, token, numbers, app


RECORD_START = re.compile(r"^\[?\d{4}-\d\d-\d\d")
EXCEPTION_LINE = re.compile(r"^([A-Za-z_]\w*(?:\.\w+)+|[A-Za-z_]\w*(?:Error|Exception)):")
JOB = re.compile(r"executing \(([^)]+)\)")


def server_errors(stack: Stack) -> Counter:
    """Errors in the servers' logs: one per ERROR record or uncaught traceback, keyed by log,
    job (for RQ) and the outermost exception class."""
    found: Counter = Counter()
    for log in sorted(Path(stack.instance).glob("proc-*.log")):
        lines = log.read_text(errors="replace").splitlines()
        index = 0
        while index < len(lines):
            line = lines[index]
            if " ERROR " not in line and not line.startswith("Traceback"):
                index += 1
                continue
            end, exception = index + 1, ""
            while end < len(lines):
                following = lines[end]
                chained = any(x.startswith(("The above exception", "During handling")) for x in lines[end - 2:end])
                own = end == index + 1  # an ERROR record's own traceback follows it
                if RECORD_START.match(following) or (following.startswith("Traceback") and not chained and not own):
                    break
                match = EXCEPTION_LINE.match(following)
                exception = following[:110] if match else exception
                end += 1
            job = JOB.search(line)
            found[f"{log.name}: {job.group(1) + ' → ' if job else ''}{exception or line[:120]}"] += 1
            index = end
    return found


def _load_counters_off(db) -> int:
    """Operators whose routing load counters disagree with the work items they hold."""
    from sqlalchemy import text

    return db.session.scalar(text(
        "SELECT count(*) FROM operator_states s WHERE s.load_total <> (SELECT count(*) FROM work_items w "
        "WHERE w.operator_id = s.user_id AND w.state IN ('offered', 'assigned')) OR s.load_phone <> "
        "(SELECT count(*) FROM work_items w WHERE w.operator_id = s.user_id AND w.channel = 'phone' "
        "AND w.state IN ('offered', 'assigned'))"))


def database_outcome(app) -> dict:
    from sqlalchemy import func, select

    from console.models import Call
    from extensions import db
    from tickets.models import InboundMail, Ticket

    with app.app_context():
        out = {
            "calls": dict(db.session.execute(select(Call.state, func.count()).group_by(Call.state)).all()),
            "missed": db.session.scalar(select(func.count()).select_from(Call).where(Call.missed.is_(True))),
            "mails": dict(db.session.execute(select(InboundMail.status, func.count())
                                             .group_by(InboundMail.status)).all()),
            "email tickets": db.session.scalar(select(func.count()).select_from(Ticket)
                                               .where(Ticket.channel == "email")),
            "load counters off": _load_counters_off(db),
        }
        db.session.rollback()
    return out


def job_table(redis_url: str) -> None:
    """Per job function, from RQ's job records (kept for their result TTL): how many ran,
    how long they waited in the queue and how long they ran. This shows where the workers'
    time went and which work waited behind it."""
    from datetime import datetime

    import redis

    def when(value: bytes | None):
        return datetime.strptime(value.decode(), "%Y-%m-%dT%H:%M:%S.%fZ") if value else None

    client = redis.Redis.from_url(redis_url)
    rows: dict[str, list[tuple[float, float]]] = {}
    for key in client.scan_iter("rq:job:*", count=1000):
        if key.count(b":") != 2:
            continue
        description, enqueued, started, ended = client.hmget(key, "description", "enqueued_at", "started_at",
                                                             "ended_at")
        if not (description and enqueued and started and ended):
            continue
        name = description.decode().split("(", 1)[0]
        waited = (when(started) - when(enqueued)).total_seconds()
        ran = (when(ended) - when(started)).total_seconds()
        rows.setdefault(name, []).append((waited, ran))
    print("RQ jobs that finished (kept for their result TTL): count, queue wait p50 / p99, run time p50 / p99, "
          "run time in all:")
    for name, values in sorted(rows.items(), key=lambda item: -sum(r for _, r in item[1])):
        waits, runs = [w for w, _ in values], [r for _, r in values]
        print(f"  {name:45} {len(values):6d}  wait {percentile(waits, .5) * 1000:8.0f} / "
              f"{percentile(waits, .99) * 1000:8.0f} ms  run {percentile(runs, .5) * 1000:7.1f} / "
              f"{percentile(runs, .99) * 1000:7.1f} ms  total {sum(runs):6.1f} s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=300)
    parser.add_argument("--operators", type=int, default=200)
    parser.add_argument("--calls", type=float, default=30, help="calls per second")
    parser.add_argument("--mails", type=float, default=20, help="mails per second")
    parser.add_argument("--customers", type=int, default=20_000)
    parser.add_argument("--ring", type=float, default=0.5)
    parser.add_argument("--talk", type=float, default=2.0)
    parser.add_argument("--wrap-up", type=int, default=1)
    parser.add_argument("--handle", type=float, default=5.0, help="seconds before a mail ticket is solved (-1: never)")
    parser.add_argument("--max-queue", type=float, default=60)
    parser.add_argument("--client-procs", type=int, default=2)
    parser.add_argument("--drain", type=float, default=180, help="seconds to wait for mail processing after the run")
    parser.add_argument("--check", action="store_true",
                        help="exit 1 unless the run was clean (the short version in ./test.sh)")
    args = parser.parse_args()

    smtp_port = free_port()
    stack = Stack("postgresql", SMTP_LISTEN=f"127.0.0.1:{smtp_port}")
    context = multiprocessing.get_context("spawn")
    helpers: list = []
    sampler = None
    try:
        began = time.perf_counter()
        usernames, token, numbers, app = seed(stack, args)
        print(f"dataset: {args.customers} customers (valid 090 numbers, {args.customers * 5} timeline items, "
              f"{args.customers} purchases), {args.operators} operators (tiers 1-3) on PostgreSQL; built in "
              f"{time.perf_counter() - began:.0f} s", flush=True)
        node_a, node_b = stack.web(), stack.web()
        web_a, web_b = stack.processes[-2].pid, stack.processes[-1].pid
        workers = [stack.worker().pid, stack.worker().pid]
        mail = stack.spawn(FLASK + ["mail"]).pid
        wait_port(smtp_port)
        nodes = [node_a, node_b]
        print(f"processes: web A {node_a} and web B {node_b} (gunicorn gthread, "
              f"{os.environ.get('WEB_WORKERS') or os.cpu_count()} workers each), 2 workers, 1 mail listener; "
              f"load {load_average()}; logs in {stack.instance}: proc-0 web A, proc-1 web B, proc-2 worker1, "
              f"proc-3 worker2, proc-4 mail", flush=True)

        options = {"ring": args.ring, "talk": args.talk, "handle": args.handle}
        pipes = []
        for share in range(args.client_procs):
            parent, child = context.Pipe()
            indexed = [(i, u) for i, u in enumerate(usernames) if i % args.client_procs == share]
            process = context.Process(target=operators_process, daemon=True,
                                      args=(nodes, token, {**options, "indexed": indexed}, child))
            process.start()
            helpers.append(process)
            pipes.append(parent)
        ready = [p.recv() for p in pipes]
        start_errors = Counter()
        for answer in ready:
            start_errors.update(answer[2])
        print(f"operators: {sum(a[1] for a in ready)} connected and available "
              f"({sum(start_errors.values())} errors {dict(start_errors) or ''})", flush=True)

        sampler = Sampler({"webA": web_a, "webB": web_b, "worker1": workers[0], "worker2": workers[1],
                           "mail": mail}, app)
        sampler.start()
        pbx_parent, pbx_child = context.Pipe()
        pbx = context.Process(target=pbx_process, daemon=True, args=(
            nodes, token, numbers, {"rate": args.calls, "seconds": args.seconds, "max_queue": args.max_queue},
            pbx_child))
        pbx.start()
        helpers.append(pbx)
        mails = MailSender(smtp_port, args.mails, args.seconds, args.customers)
        watched = {**sampler.processes(), **{f"client{i}": p.pid for i, p in enumerate(helpers[:-1], 1)},
                   "pbx": pbx.pid, "bench": os.getpid()}
        cpu_before = {name: cpu_seconds(pid) for name, pid in watched.items()}
        cpu_before["postgres"] = postgres_cpu_seconds()
        run_began = time.perf_counter()
        mail_s = mails.run()
        _, calls, pbx_errors, sending_s = pbx_parent.recv()  # after the last call has its answer
        run_s = time.perf_counter() - run_began
        mails_at_end = sampler.progress()["mails done"]
        cpu_used = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in watched.items()}
        cpu_used["postgres"] = postgres_cpu_seconds() - cpu_before["postgres"]
        for pipe in pipes:
            pipe.send(("finish",))
        reports = [p.recv() for p in pipes]
        drained_s = None
        deadline = time.monotonic() + args.drain
        while time.monotonic() < deadline:
            outcome = database_outcome(app)
            if not outcome["mails"].get("stored"):
                drained_s = time.perf_counter() - run_began
                break
            time.sleep(2)
        sampler.halt.set()
        sampler.join()
        sampler.sample()
        outcome = database_outcome(app)

        counts, errors, pops = Counter(), Counter(), []
        for _, c, e, p in reports:
            counts.update(c)
            errors.update(e)
            pops.extend(p)
        errors.update(pbx_errors)
        errors.update(mails.errors)
        first_pop: dict[str, float] = {}
        pops_per_call = Counter()
        for call_id, at, _user in pops:
            pops_per_call[call_id] += 1
            first_pop[call_id] = min(at, first_pop.get(call_id, at))
        dialled = [c for c, r in calls.items() if r["first"] == "dial"]
        latencies = [first_pop[c] - calls[c]["sent"] for c in dialled if c in first_pop]
        queued = [c for c, r in calls.items() if r["first"] == "queue"]
        queued_waits = [first_pop[c] - calls[c]["sent"] for c in queued if c in first_pop]
        decisions = Counter(r["first"] for r in calls.values())
        sent = len(calls)
        answered = counts["cti hangup"]
        logs = server_errors(stack)

        print(f"run: {run_s:.0f} s (calls sent over {sending_s:.0f} s, mails over {mail_s:.0f} s); load "
              f"{load_average()}", flush=True)
        print(f"calls: {sent} newCall sent = {sent / sending_s:.1f}/s (target {args.calls}); first answers "
              f"{dict(decisions)}; answered and hung up by operators {answered} = {answered / run_s:.1f}/s; "
              f"calls in the database by state {outcome['calls']}, missed {outcome['missed']}; operators whose "
              f"load counters disagree with the items they hold: {outcome['load counters off']}", flush=True)
        print(f"pop latency (newCall sent → screen_pop, calls dialled at once): p50 "
              f"{percentile(latencies, .5) * 1000:.1f} ms, p99 {percentile(latencies, .99) * 1000:.1f} ms, "
              f"max {max(latencies, default=float('nan')) * 1000:.1f} ms (n={len(latencies)}); dialled without "
              f"a pop {len(dialled) - len(latencies)}; queued calls popped later {len(queued_waits)}/{len(queued)} "
              f"(wait p50 {percentile(queued_waits, .5):.1f} s); calls popped twice {sum(1 for n in pops_per_call.values() if n > 1)}",
              flush=True)
        print(f"mails: {mails.accepted} accepted (250) = {mails.accepted / mail_s:.1f}/s (target {args.mails}); "
              f"processed while calls ran ({run_s:.0f} s) {mails_at_end} = {mails_at_end / run_s:.1f}/s; after the run "
              f"{outcome['mails']} (all processed after {drained_s:.0f} s)" if drained_s else
              f"mails: {mails.accepted} accepted; processed during the run {mails_at_end}; NOT drained within "
              f"{args.drain:.0f} s: {outcome['mails']}", flush=True)
        print(f"email tickets {outcome['email tickets']}; operator actions {dict(counts)}", flush=True)
        total_errors = sum(errors.values()) + sum(logs.values())
        print(f"errors: {total_errors} (client side {dict(errors) or 0}; server logs {sum(logs.values())})", flush=True)
        for line, number in logs.most_common(10):
            print(f"  {number} × {line}", flush=True)
        memory_table(sampler.rows, warm_up_s=min(60, args.seconds / 3))
        print("CPU seconds used during the run (2 cores = 2 s per second): "
              + ", ".join(f"{name} {used:.0f}" for name, used in cpu_used.items()), flush=True)
        job_table(stack.redis.url)
        problems = {"errors": total_errors, "calls not answered": sent - answered,
                    "calls dialled without a pop": len(dialled) - len(latencies),
                    "calls popped twice": sum(1 for n in pops_per_call.values() if n > 1),
                    "mails not processed": 0 if drained_s else mails.accepted,
                    "load counters off": outcome["load counters off"]}
        if args.check and any(problems.values()):
            print(f"CHECK FAILED: {problems}", flush=True)
            sys.exit(1)
    finally:
        if sampler is not None:
            sampler.halt.set()
        for process in helpers:
            process.join(5)
            if process.is_alive():
                process.kill()
        stack.close()


if __name__ == "__main__":
    os.chdir(os.path.dirname(os.path.abspath(__file__)))
    main()
