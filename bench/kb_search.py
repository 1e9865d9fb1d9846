"""Knowledge-base search benchmark (issue 6).

Builds a knowledge base of 20,000 published articles (Japanese and English: the demo
manuals plus generated product articles that share their vocabulary) on SQLite and on
PostgreSQL, then measures

- search latency (``knowledge.search.search``, operator visibility, limit 10): p50/p95
  over a mix of short Japanese (2 characters), longer Japanese, English and typo queries;
- suggestion latency (``knowledge.suggest.suggest_for_text`` for ticket-like subject +
  message pairs, limit 5): p50/p95;
- relevance: 50 queries (half Japanese) each with its expected manual; top-1 and top-3 hit
  rates (the expected article must be first / among the first three of 20,000).

On PostgreSQL it also prints the server-side execution time (EXPLAIN ANALYZE, best of 5)
of the ranking statement for a few typical queries and one ticket.

Usage: .venv/bin/python bench/kb_search.py [--articles 20000] [--backends sqlite,postgresql]
Needs PostgreSQL at TEST_DATABASE_URL (default postgresql://postgres@127.0.0.1:5432/test)
for the PostgreSQL run; it creates and drops its own database.
"""
from __future__ import annotations

import argparse
import os
import random
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

PG_ADMIN_URL = os.environ.get("TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/test")

# (query, expected manual key, locale of the expected article)
RELEVANCE = [
    ("パスワード 忘れた", "password_reset", "ja"), ("パスワードを再設定したい", "password_reset", "ja"),
    ("ログインできない", "login_trouble", "ja"), ("請求書", "invoice", "ja"),
    ("請求書を再発行", "invoice", "ja"), ("支払い方法", "payment_methods", "ja"),
    ("クレジットカード 変更", "payment_methods", "ja"), ("配送料", "shipping", "ja"),
    ("お届け日数", "shipping", "ja"), ("配送状況", "tracking", "ja"),
    ("お問い合わせ番号 追跡", "tracking", "ja"), ("返品", "returns", "ja"),
    ("交換したい", "returns", "ja"), ("返金の時期", "refund", "ja"),
    ("料金プラン", "plans", "ja"), ("プラン 違い", "plans", "ja"),
    ("プラン変更", "plan_change", "ja"), ("解約", "cancellation", "ja"),
    ("解約手続き", "cancellation", "ja"), ("住所変更", "address_change", "ja"),
    ("メールアドレス 変更", "address_change", "ja"), ("領収書", "receipt", "ja"),
    ("二段階認証", "two_factor", "ja"), ("ポイント 有効期限", "points", "ja"),
    ("返金 承認", "refund_approval", "ja"),
    ("reset password", "password_reset", "en"), ("forgot my password", "password_reset", "en"),
    ("can't log in", "login_trouble", "en"), ("login problems", "login_trouble", "en"),
    ("invoice", "invoice", "en"), ("reissue invoices", "invoice", "en"),
    ("payment methods", "payment_methods", "en"), ("update credit card", "payment_methods", "en"),
    ("shipping fees", "shipping", "en"), ("delivery times", "shipping", "en"),
    ("track my order", "tracking", "en"), ("tracking number", "tracking", "en"),
    ("return an item", "returns", "en"), ("exchanges", "returns", "en"),
    ("refunded", "refund", "en"), ("plans and pricing", "plans", "en"),
    ("upgrade plan", "plan_change", "en"), ("cancel subscription", "cancellation", "en"),
    ("cancellation", "cancellation", "en"), ("change email address", "address_change", "en"),
    ("receipt", "receipt", "en"), ("two-factor authentication", "two_factor", "en"),
    ("pasword reset", "password_reset", "en"), ("refund approval", "refund_approval", "en"),
    ("authenticator app", "two_factor", "en"),
]

TICKETS = [
    ("請求書の宛名を変更したい", "先月分の請求書の宛名を会社名に変えて再発行してもらえますか。"),
    ("商品が届きません", "1週間前に注文した商品がまだ届きません。配送状況を教えてください。"),
    ("返品について", "サイズが合わなかったので返品したいです。送料はかかりますか。"),
    ("解約したい", "来月で解約したいのですが、手続きの方法を教えてください。データはどうなりますか。"),
    ("ログインできません", "パスワードを何度入れてもログインできません。ロックされたようです。"),
    ("Invoice address", "Could you reissue last month's invoice with our company name?"),
    ("Package not delivered", "My order shipped a week ago but the package has not arrived. Tracking shows nothing."),
    ("Refund status", "I returned the item ten days ago. When will I get my refund on my credit card?"),
    ("Cancel my plan", "I want to cancel my subscription at the end of this month."),
    ("2FA on a new phone", "I changed phones and cannot get the two-factor code any more."),
]

# Generated articles: product guides that use the same everyday vocabulary as the manuals.
PRODUCTS_JA = ["ワイヤレスイヤホン", "スマートウォッチ", "電気ケトル", "ロボット掃除機", "加湿器", "電動歯ブラシ",
               "モバイルバッテリー", "ノートパソコン", "タブレット", "プリンター", "炊飯器", "空気清浄機",
               "コーヒーメーカー", "電子レンジ", "ドライヤー", "体重計", "防犯カメラ", "Wi-Fiルーター"]
TOPICS_JA = ["初期設定", "接続できない", "充電のしかた", "お手入れ方法", "エラーコード一覧", "仕様", "保証の範囲",
             "ファームウェア更新", "よくある質問", "使い方ガイド", "故障かなと思ったら", "付属品"]
SENTENCES_JA = [
    "{p}の電源を入れ、ランプが点滅するまでボタンを長押ししてください。",
    "本体が熱くなる場合は、使用を中止して涼しい場所で休ませてください。",
    "付属のケーブル以外を使うと、充電できないことがあります。",
    "保証期間はお買い上げ日から1年間です。保証書と領収書を保管してください。",
    "修理品の配送料は、保証期間内であれば当社が負担します。",
    "設定アプリで{p}を選び、画面の案内に従って操作します。",
    "エラーが続く場合は、一度電源を切ってから再起動してください。",
    "お手入れの際は、乾いた柔らかい布で拭いてください。水洗いはできません。",
    "最新のファームウェアに更新すると、接続が安定します。",
    "初期不良の場合は、到着後8日以内に交換を承ります。",
    "消耗品のご注文は、マイページからいつでも行えます。",
    "本体の裏面にあるリセットボタンを5秒間押すと、工場出荷時の状態に戻ります。",
    "海外でのご使用は保証の対象外となります。",
    "アプリのバージョンが古いと、一部の機能が使えない場合があります。",
    "ご不明な点は、製品番号を添えてお問い合わせください。",
]
PRODUCTS_EN = ["wireless earbuds", "smartwatch", "electric kettle", "robot vacuum", "humidifier", "electric toothbrush",
               "power bank", "laptop", "tablet", "printer", "rice cooker", "air purifier", "coffee maker",
               "microwave", "hair dryer", "bathroom scale", "security camera", "Wi-Fi router"]
TOPICS_EN = ["first-time setup", "cannot connect", "charging", "cleaning and care", "error codes", "specifications",
             "warranty coverage", "firmware updates", "FAQ", "user guide", "troubleshooting", "accessories"]
SENTENCES_EN = [
    "Turn on the {p} and hold the button until the light blinks.",
    "If the device gets hot, stop using it and let it cool down.",
    "Charging may fail with cables other than the one supplied.",
    "The warranty lasts one year from the date of purchase; keep your receipt.",
    "We pay the shipping for repairs during the warranty period.",
    "Open the settings app, select the {p} and follow the instructions on screen.",
    "If the error persists, switch the device off and restart it.",
    "Clean it with a soft dry cloth; it is not washable.",
    "Updating to the latest firmware makes the connection more stable.",
    "Defective units are exchanged within 8 days of delivery.",
    "You can order consumables from My page at any time.",
    "Press the reset button on the back for five seconds to restore factory settings.",
    "Use outside Japan is not covered by the warranty.",
    "Some features need the latest version of the app.",
    "If anything is unclear, contact us with the product number.",
]


def generated_article(number: int, rng: random.Random) -> tuple[str, str, str]:
    if number % 2:
        product, topic = rng.choice(PRODUCTS_JA), rng.choice(TOPICS_JA)
        title = f"{product}の{topic}（型番 TS-{number:05d}）"
        paragraphs = []
        for heading in rng.sample(TOPICS_JA, 3):
            lines = [s.format(p=product) for s in rng.sample(SENTENCES_JA, 4)]
            paragraphs.append(f"## {heading}\n" + "\n".join(f"- {line}" for line in lines))
        return title, "\n\n".join(paragraphs), "ja"
    product, topic = rng.choice(PRODUCTS_EN), rng.choice(TOPICS_EN)
    title = f"{product.capitalize()}: {topic} (model TS-{number:05d})"
    paragraphs = []
    for heading in rng.sample(TOPICS_EN, 3):
        lines = [s.format(p=product) for s in rng.sample(SENTENCES_EN, 4)]
        paragraphs.append(f"## {heading.capitalize()}\n" + "\n".join(f"- {line}" for line in lines))
    return title, "\n\n".join(paragraphs), "en"


def build(app, total: int) -> dict[tuple[str, str], int]:
    """Load the manuals and generated articles; returns (key, locale) → article id."""
    from sqlalchemy import insert

    from core.db import utcnow
    from core.sanitize import render_markdown
    from extensions import db
    from knowledge.manuals import MANUALS
    from knowledge.models import KbArticle, KbSearchDoc
    from knowledge.search import document_for

    rng = random.Random(6)
    expected: dict[tuple[str, str], int] = {}
    rows, docs = [], []
    now = utcnow()
    article_id = 0

    def add(title, body, locale, visibility="public", tags=()):
        nonlocal article_id
        article_id += 1
        article = KbArticle(id=article_id, title=title, body=body, html=render_markdown(body), status="published",
                            visibility=visibility, locale=locale, tags=list(tags), current_rev=1, version=1,
                            created_at=now, updated_at=now, published_at=now, needs_review=False, use_count=0,
                            helpful_yes=0, helpful_no=0)
        rows.append({c.key: getattr(article, c.key) for c in KbArticle.__table__.columns})
        docs.append(document_for(article))
        return article_id

    for manual in MANUALS:
        for locale in ("ja", "en"):
            if manual.get(locale):
                title, body = manual[locale]
                expected[(manual["key"], locale)] = add(title, body.replace("(kb:", "(/help/articles/"), locale,
                                                        manual["visibility"], manual["tags"])
    number = 0
    while article_id < total:
        number += 1
        add(*generated_article(number, rng))
    with app.app_context():
        for start in range(0, len(rows), 2000):
            db.session.execute(insert(KbArticle), rows[start:start + 2000])
            db.session.execute(insert(KbSearchDoc), docs[start:start + 2000])
        db.session.commit()
        if db.engine.dialect.name == "postgresql":
            db.session.execute(__import__("sqlalchemy").text("ANALYZE kb_search_docs"))
            db.session.commit()
        else:
            db.session.execute(__import__("sqlalchemy").text("ANALYZE"))
            db.session.commit()
    return expected


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def measure(app, expected: dict, rounds: int) -> dict:
    from extensions import db
    from knowledge.search import search
    from knowledge.suggest import suggest_for_text

    both = ("internal", "public")
    queries = [q for q, _, _ in RELEVANCE] + ["請求", "返品", "配送", "解約", "保証", "充電", "warranty", "charging"]
    results = {}
    with app.app_context():
        for query in queries:  # warm caches once
            search(query, visibilities=both, limit=10)
        times = []
        for _ in range(rounds):
            for query in queries:
                start = time.perf_counter()
                search(query, visibilities=both, limit=10)
                times.append((time.perf_counter() - start) * 1000)
        results["search"] = (statistics.median(times), percentile(times, 0.95), len(times))
        short_times = []
        for _ in range(rounds):
            for query in ("請求", "返品", "配送", "解約"):
                start = time.perf_counter()
                hits = search(query, visibilities=both, limit=10)
                short_times.append((time.perf_counter() - start) * 1000)
                assert hits, query
        results["search_2char"] = (statistics.median(short_times), percentile(short_times, 0.95), len(short_times))
        times = []
        for _ in range(rounds):
            for subject, body in TICKETS:
                start = time.perf_counter()
                suggest_for_text(subject, body, limit=5)
                times.append((time.perf_counter() - start) * 1000)
        results["suggest"] = (statistics.median(times), percentile(times, 0.95), len(times))
        top1 = top3 = 0
        misses = []
        for query, key, locale in RELEVANCE:
            ids = [hit.id for hit in search(query, visibilities=both, limit=3)]
            target = expected[(key, locale)]
            top1 += bool(ids) and ids[0] == target
            top3 += target in ids
            if target not in ids:
                misses.append(query)
        results["relevance"] = (top1 / len(RELEVANCE), top3 / len(RELEVANCE), misses)
        suggestion_hits = 0
        for (subject, body), key in zip(TICKETS, ["invoice", "tracking", "returns", "cancellation", "login_trouble",
                                                  "invoice", "tracking", "refund", "cancellation", "two_factor"],
                                        strict=True):
            ids = [item["id"] for item in suggest_for_text(subject, body, limit=3)]
            suggestion_hits += any(expected.get((key, loc)) in ids for loc in ("ja", "en"))
        results["suggest_top3"] = suggestion_hits / len(TICKETS)
        from sqlalchemy import func, select

        from knowledge.models import KbArticle
        results["articles"] = db.session.scalar(select(func.count()).select_from(KbArticle))
        results["ja"] = db.session.scalar(select(func.count()).select_from(KbArticle).where(KbArticle.locale == "ja"))
    return results


EXPLAINED = ["charging", "保証", "請求", "お問い合わせ番号 追跡", "reset password"]


def explain_times(app) -> list[tuple[str, float, float]]:
    """(what, planning ms, execution ms) of the ranking statement (the one starting WITH),
    best of 5 EXPLAIN ANALYZE runs, for EXPLAINED and the first English ticket."""
    from sqlalchemy import event

    from extensions import db
    from knowledge.search import search
    from knowledge.suggest import suggest_for_text

    captured: list[tuple[str, dict]] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("WITH"):
            captured.append((statement, parameters))

    subject, body = TICKETS[6]
    cases = [(query, lambda q=query: search(q, visibilities=("internal", "public"), limit=10)) for query in EXPLAINED]
    cases.append((f"ticket: {subject}", lambda: suggest_for_text(subject, body, limit=5)))
    results = []
    with app.app_context():
        event.listen(db.engine, "before_cursor_execute", capture)
        try:
            for label, call in cases:
                captured.clear()
                call()
                statement, parameters = captured[0]
                cursor = db.session.connection().connection.driver_connection.cursor()
                best = (float("inf"), float("inf"))
                for _ in range(5):
                    cursor.execute("SELECT set_config('jit', 'off', true), "
                                   "set_config('max_parallel_workers_per_gather', '0', true)")
                    cursor.execute("EXPLAIN (ANALYZE, FORMAT JSON) " + statement, parameters)
                    plan = cursor.fetchone()[0][0]
                    best = min(best, (plan["Execution Time"], plan["Planning Time"]))
                results.append((label, best[1], best[0]))
                db.session.rollback()
        finally:
            event.remove(db.engine, "before_cursor_execute", capture)
    return results


def make_app(database_url: str):
    os.environ["TSUNAGU_DEMO"] = "0"
    os.environ.setdefault("SECRET_KEY", "bench")
    from flask_migrate import upgrade

    from app import create_app

    app = create_app({"SQLALCHEMY_DATABASE_URI": database_url, "TESTING": True})
    with app.app_context():
        upgrade(revision="heads")
    return app


def run_backend(backend: str, total: int, rounds: int) -> dict:
    cleanup = None
    if backend == "sqlite":
        folder = tempfile.mkdtemp(prefix="kb-bench-")
        url = f"sqlite:///{folder}/bench.db"
        cleanup = lambda: shutil.rmtree(folder, ignore_errors=True)  # noqa: E731
    else:
        import psycopg

        name = f"kb_bench_{uuid.uuid4().hex[:8]}"
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"CREATE DATABASE {name} TEMPLATE template0 ENCODING 'UTF8' "
                         f"LC_CTYPE 'C.UTF-8' LC_COLLATE 'C.UTF-8'")
        url = PG_ADMIN_URL.rsplit("/", 1)[0].replace("postgresql://", "postgresql+psycopg://", 1) + f"/{name}"

        def cleanup():
            from extensions import db
            with app.app_context():
                db.engine.dispose()
            with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
    app = make_app(url)
    try:
        started = time.perf_counter()
        expected = build(app, total)
        load_s = time.perf_counter() - started
        results = measure(app, expected, rounds)
        results["load_s"] = load_s
        if backend == "postgresql":
            results["explain"] = explain_times(app)
        return results
    finally:
        cleanup()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--articles", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--backends", default="sqlite,postgresql")
    args = parser.parse_args()
    print(f"Knowledge-base search benchmark: {args.articles} published articles, "
          f"{len(RELEVANCE)} relevance queries ({sum(1 for _, _, loc in RELEVANCE if loc == 'ja')} Japanese)")
    for backend in args.backends.split(","):
        results = run_backend(backend, args.articles, args.rounds)
        s50, s95, sn = results["search"]
        c50, c95, cn = results["search_2char"]
        g50, g95, gn = results["suggest"]
        top1, top3, misses = results["relevance"]
        print(f"\n[{backend}] dataset: {results['articles']} articles ({results['ja']} ja, "
              f"{results['articles'] - results['ja']} en), loaded and indexed in {results['load_s']:.1f} s")
        print(f"  search        p50 {s50:6.2f} ms   p95 {s95:6.2f} ms   ({sn} queries)")
        print(f"  search 2-char p50 {c50:6.2f} ms   p95 {c95:6.2f} ms   ({cn} queries: 請求 返品 配送 解約)")
        print(f"  suggestion    p50 {g50:6.2f} ms   p95 {g95:6.2f} ms   ({gn} tickets)")
        print(f"  relevance     top-1 {top1:.0%}   top-3 {top3:.0%}   suggestions top-3 {results['suggest_top3']:.0%}")
        if misses:
            print(f"  not in top 3: {', '.join(misses)}")
        for label, planning, execution in results.get("explain", []):
            print(f"  EXPLAIN ANALYZE  planning {planning:5.2f} ms  execution {execution:5.2f} ms  {label}")


if __name__ == "__main__":
    main()
