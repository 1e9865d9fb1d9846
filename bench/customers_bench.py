"""Customers benchmark (issue 3).

Dataset (generated set-based in SQL, not row by row): 200,000 customers each with a phone
(and every other one an email), 2,000,000 purchases over two years, 2,000,000 timeline
items of which 100,000 belong to one customer (id 1).  On SQLite and on PostgreSQL it
measures

- lookup by phone (``customers.service.lookup`` with a national-format number, the
  customer and identities in one query): p50/p95 over 2,000 random customers;
- the first timeline page (50 items) of the 100,000-item customer: p50/p95 over 500 runs,
  with the query plan;
- RFM recompute of the whole set (``customers.rfm.recompute``): seconds and the peak RSS
  of the Python process (run in a fresh subprocess so generation does not count);
- import of a 100,000-row customers CSV (``customers.imports.run``): seconds.

Usage: .venv/bin/python bench/customers_bench.py [--backends sqlite,postgresql]
       [--customers 200000] [--purchases 2000000] [--timeline 2000000] [--big 100000]
PostgreSQL: TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test); the
script creates and drops its own database.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
PG_ADMIN = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")
BASE_TS = 1793491200  # 2026-11-01 00:00 UTC
TWO_YEARS = 2 * 365 * 86400


def _app(url: str):
    os.environ["DATABASE_URL"] = url
    os.environ.setdefault("TSUNAGU_INSTANCE", tempfile.mkdtemp(prefix="tsunagu-bench-"))
    os.environ.setdefault("SECRET_KEY", "bench")
    os.environ["TSUNAGU_DEMO"] = "0"
    import logging

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": url})
    logging.getLogger().setLevel(logging.WARNING)
    return app


def _pct(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def generate(url: str, args) -> None:
    """Migrate and fill the database with set-based INSERT … SELECT statements."""
    from flask_migrate import upgrade
    from sqlalchemy import text

    from extensions import db

    app = _app(url)
    with app.app_context():
        upgrade(revision="heads")
        pg = db.engine.dialect.name == "postgresql"
        n, p, t, big = args.customers, args.purchases, args.timeline, args.big
        started = time.monotonic()
        with db.engine.begin() as conn:
            if pg:
                series = "generate_series(CAST(1 AS bigint), {n}) AS g(i)"
                ts = "(TIMESTAMP '2026-11-01' - make_interval(secs => {expr}))"
                pad = "lpad(CAST({x} AS text), 8, '0')"
            else:
                conn.exec_driver_sql("PRAGMA journal_mode=WAL")
                conn.exec_driver_sql("PRAGMA synchronous=OFF")
                series = ("(WITH RECURSIVE s(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM s WHERE i < {n}) "
                          "SELECT i FROM s) AS g")
                ts = f"(datetime({BASE_TS} - ({{expr}}), 'unixepoch') || '.000000')"
                pad = "printf('%08d', {x})"
            false, now = ("false", "TIMESTAMP '2026-11-01'") if pg else ("0", "'2026-11-01 00:00:00.000000'")
            conn.execute(text(f"""
                INSERT INTO customers (id, name, name_kana, name_key, sort_key, dm_opt_in, tags, rank_computed,
                                       frequency, monetary, ltv, version, created_at, updated_at)
                SELECT i, '顧客 ' || i, 'コキャク ' || i, '顧客' || i, 'コキャク' || {pad.format(x='i')}, {false}, '[]',
                       'new', 0, 0, 0, 1, {now}, {now}
                FROM {series.format(n=n)}"""))
            # Phones +8190NNNNNNNN (valid mobile numbers), unique per customer.
            conn.execute(text(f"""
                INSERT INTO customer_identities (customer_id, kind, value, created_at)
                SELECT i, 'phone', '+8190' || {pad.format(x='10000000 + i')}, {now} FROM {series.format(n=n)}"""))
            conn.execute(text(f"""
                INSERT INTO customer_identities (customer_id, kind, value, created_at)
                SELECT i, 'email', 'customer' || i || '@example.jp', {now} FROM {series.format(n=n)} WHERE i % 2 = 0"""))
            print(f"  customers + identities: {time.monotonic() - started:.1f} s", flush=True)
            conn.execute(text(f"""
                INSERT INTO purchases (customer_id, product, quantity, amount, purchased_at, created_at)
                SELECT 1 + ((i * 7919) % {n}), '商品 ' || (i % 50), 1 + (i % 3), 500 + ((i * 104729) % 50000),
                       {ts.format(expr=f'(i * 15485863) % {TWO_YEARS}')}, {now}
                FROM {series.format(n=p)}"""))
            print(f"  purchases: {time.monotonic() - started:.1f} s", flush=True)
            conn.execute(text(f"""
                INSERT INTO interactions (customer_id, kind, channel, direction, occurred_at, summary, detail, created_at)
                SELECT CASE WHEN i <= {big} THEN 1 ELSE 2 + ((i * 7919) % ({n} - 1)) END,
                       CASE i % 4 WHEN 0 THEN 'call' WHEN 1 THEN 'email' WHEN 2 THEN 'note' ELSE 'ticket' END,
                       'phone', 'in', {ts.format(expr=f'(i * 15485863) % {TWO_YEARS}')}, '対応履歴 ' || i, '{{}}', {now}
                FROM {series.format(n=t)}"""))
            print(f"  timeline: {time.monotonic() - started:.1f} s", flush=True)
            if pg:
                for table in ("customers", "customer_identities", "purchases", "interactions"):
                    conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                         f"(SELECT MAX(id) FROM {table}))")
        with db.engine.connect() as conn:
            conn.exec_driver_sql("ANALYZE")
            if not pg:  # steady state: the generation's WAL folded into the database file
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
            conn.commit()
        print(f"  generated in {time.monotonic() - started:.1f} s", flush=True)


def measure_reads(url: str, args) -> dict:
    from sqlalchemy import text

    from customers import service, timeline
    from extensions import db

    app = _app(url)
    rng = random.Random(7)
    out: dict = {}
    with app.app_context():
        pg = db.engine.dialect.name == "postgresql"
        samples = []
        for _ in range(args.lookups):
            i = rng.randint(1, args.customers)
            raw = f"090-{(10000000 + i) // 10000:04d}-{(10000000 + i) % 10000:04d}"
            started = time.perf_counter()
            found = service.lookup(phone=raw, with_identities=True)
            samples.append((time.perf_counter() - started) * 1000)
            assert found is not None and found.id == i, (raw, found)
            db.session.rollback()
            db.session.expunge_all()
        out["lookup_ms"] = {"p50": statistics.median(samples), "p95": _pct(samples, 0.95)}
        samples = []
        for _ in range(args.pages):
            started = time.perf_counter()
            rows, cursor = timeline.page(1, 50)
            samples.append((time.perf_counter() - started) * 1000)
            assert len(rows) == 50 and cursor
            db.session.rollback()
            db.session.expunge_all()
        out["timeline_first_page_ms"] = {"p50": statistics.median(samples), "p95": _pct(samples, 0.95)}
        plan_sql = ("SELECT * FROM interactions WHERE customer_id = 1 "
                    "ORDER BY occurred_at DESC, id DESC LIMIT 51")
        plan = db.session.execute(text(("EXPLAIN " if pg else "EXPLAIN QUERY PLAN ") + plan_sql)).all()
        out["timeline_plan"] = [" ".join(str(c) for c in row) for row in plan]
        count = db.session.execute(text("SELECT COUNT(*) FROM interactions WHERE customer_id = 1")).scalar()
        out["big_customer_items"] = count
    return out


def measure_rfm(url: str) -> dict:
    from customers import rfm
    from extensions import db

    app = _app(url)
    with app.app_context():
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        summary = rfm.recompute()
        db.session.commit()
        elapsed = time.monotonic() - started
        ranks = rfm.distribution()["ranks"]
        deciles_started = time.monotonic()
        deciles = rfm.deciles()
        deciles_s = time.monotonic() - deciles_started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"rfm_s": elapsed, "rfm_scored": summary["customers_scored"], "ranks": ranks,
            "peak_rss_mb": peak / 1024, "rss_before_mb": before / 1024, "deciles_s": deciles_s,
            "deciles_sum_ok": sum(i["revenue"] for i in deciles["items"]) == deciles["total_revenue"]}


def measure_import(url: str, args) -> dict:
    from customers import imports
    from extensions import db

    app = _app(url)
    folder = Path(tempfile.mkdtemp(prefix="tsunagu-bench-csv-"))
    path = folder / "customers.csv"
    with open(path, "w", encoding="cp932", newline="") as handle:
        handle.write("顧客コード,氏名,フリガナ,電話番号,メールアドレス,住所,生年月日,DM\r\n")
        for i in range(args.import_rows):
            handle.write(f"IMP{i:06d},取込 {i},トリコミ {i},080-{1000 + i // 10000:04d}-{i % 10000:04d},"
                         f"import{i}@example.com,東京都千代田区{i % 100}丁目,1980/01/{1 + i % 28:02d},可\r\n")
    size_mb = path.stat().st_size / 1e6
    with app.app_context():
        started = time.monotonic()
        result = imports.run(str(path), "customers", filename="customers.csv")
        elapsed = time.monotonic() - started
        started = time.monotonic()
        again = imports.run(str(path), "customers", filename="customers.csv")
        again_s = time.monotonic() - started
        db.session.commit()
    shutil.rmtree(folder, ignore_errors=True)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"import_rows": args.import_rows, "import_mb": size_mb, "import_s": elapsed, "created": result["created"],
            "errors": result["error_count"], "reimport_s": again_s, "reimport_unchanged": again["unchanged"],
            "import_peak_rss_mb": peak / 1024}


def _phase(phase: str, url: str, args) -> dict:
    """Run one measurement in a fresh interpreter (its own peak RSS)."""
    argv = [sys.executable, __file__, "--phase", phase, "--url", url] + [
        f"--{k.replace('_', '-')}={v}" for k, v in vars(args).items()
        if k in ("customers", "purchases", "timeline", "big", "lookups", "pages", "import_rows")]
    done = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"phase {phase} failed:\n{done.stdout}\n{done.stderr}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def run_backend(backend: str, args) -> dict:
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="tsunagu-bench-db-")
        url, cleanup = f"sqlite:///{folder}/bench.db", lambda: shutil.rmtree(folder, ignore_errors=True)
    else:
        import psycopg

        name = f"tsunagu_bench_customers_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                         f"LC_CTYPE 'C.UTF-8' LC_COLLATE 'C.UTF-8'")
        url = PG_ADMIN.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + "/" + name

        def cleanup():
            with psycopg.connect(PG_ADMIN, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    try:
        print(f"[{backend}] generating {args.customers:,} customers, {args.purchases:,} purchases, "
              f"{args.timeline:,} timeline items ({args.big:,} on customer 1)", flush=True)
        started = time.monotonic()
        subprocess.run([sys.executable, __file__, "--phase", "generate", "--url", url,
                        f"--customers={args.customers}", f"--purchases={args.purchases}",
                        f"--timeline={args.timeline}", f"--big={args.big}"], cwd=ROOT, check=True)
        result = {"generate_s": time.monotonic() - started}
        for phase in ("reads", "rfm", "import"):
            if phase in args.only.split(","):
                result.update(_phase(phase, url, args))
        return result
    finally:
        cleanup()


def report(f: dict) -> None:
    print(f"  generation               {f['generate_s']:.1f} s")
    if "lookup_ms" in f:
        print(f"  lookup by phone          p50 {f['lookup_ms']['p50']:.2f} ms   p95 {f['lookup_ms']['p95']:.2f} ms"
              f"   (goal p95 ≤ 3 ms)")
        print(f"  timeline first page      p50 {f['timeline_first_page_ms']['p50']:.2f} ms   p95 "
              f"{f['timeline_first_page_ms']['p95']:.2f} ms   (goal p95 ≤ 10 ms; {f['big_customer_items']:,} items)")
        print("  timeline plan            " + " | ".join(f["timeline_plan"][:3]))
        print(f"  load (1-min avg)         {f['reads_load_avg']} on {os.cpu_count()} CPUs")
    if "rfm_s" in f:
        print(f"  RFM recompute            {f['rfm_s']:.1f} s for {f['rfm_scored']:,} buyers, peak RSS "
              f"{f['peak_rss_mb']:.0f} MB   (goal ≤ 30 s, ≤ 300 MB on PostgreSQL); load {f['rfm_load_avg']}")
        print(f"  ranks                    {f['ranks']}")
        print(f"  deciles                  {f['deciles_s']:.2f} s, sums equal total: {f['deciles_sum_ok']}")
    if "import_s" in f:
        print(f"  import {f['import_rows']:,}-row CSV    {f['import_s']:.1f} s ({f['import_mb']:.1f} MB cp932, "
              f"{f['created']:,} created, {f['errors']} errors, peak RSS {f['import_peak_rss_mb']:.0f} MB)"
              f"   (goal ≤ 60 s); load {f['import_load_avg']}")
        print(f"  re-import same file      {f['reimport_s']:.1f} s ({f['reimport_unchanged']:,} unchanged)")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--backends", default="sqlite,postgresql")
    parser.add_argument("--customers", type=int, default=200_000)
    parser.add_argument("--purchases", type=int, default=2_000_000)
    parser.add_argument("--timeline", type=int, default=2_000_000)
    parser.add_argument("--big", type=int, default=100_000)
    parser.add_argument("--lookups", type=int, default=2000)
    parser.add_argument("--pages", type=int, default=500)
    parser.add_argument("--import-rows", type=int, default=100_000)
    parser.add_argument("--phase")
    parser.add_argument("--only", default="reads,rfm,import", help="measurements to run")
    parser.add_argument("--url")
    args = parser.parse_args()
    if args.phase:
        os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/15")
        if args.phase == "generate":
            generate(args.url, args)
            return
        measured = {"reads": lambda: measure_reads(args.url, args), "rfm": lambda: measure_rfm(args.url),
                    "import": lambda: measure_import(args.url, args)}[args.phase]()
        measured[f"{args.phase}_load_avg"] = round(os.getloadavg()[0], 2)
        print(json.dumps(measured))
        return
    print(f"machine: {platform.platform()}, Python {platform.python_version()}, {os.cpu_count()} CPUs")
    for backend in args.backends.split(","):
        figures = run_backend(backend, args)
        print(f"[{backend}] results")
        report(figures)


if __name__ == "__main__":
    main()
