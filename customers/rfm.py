"""RFM ranking, set-based in SQL (never by loading customers into Python).

R = days since the last purchase, F = number of purchases and M = spend within the window
(``RFM_WINDOW_DAYS``, default 365).  Each is scored 1–5 by quintiles over the customers
who ever bought: ``1 + (RANK() - 1) * 5 / COUNT(*)`` — equal values get equal scores,
which plain ``NTILE`` would split arbitrarily.  The rank comes from the sum of the three
scores (``RFM_THRESHOLDS``, default platinum ≥ 13, gold ≥ 10, silver ≥ 7, else bronze);
customers who never bought are ``new``.  A supervisor's ``rank_override`` wins on read.
"""
from __future__ import annotations

import json
import time
from datetime import timedelta

from flask import current_app, has_app_context
from sqlalchemy import Integer, bindparam, cast, func, select, text

from core.db import UTCDateTime, is_postgres, utcnow
from customers.models import RANKS, Customer
from extensions import db

DEFAULT_WINDOW_DAYS = 365
DEFAULT_THRESHOLDS = {"platinum": 13, "gold": 10, "silver": 7}
LAST_RUN_KEY = "tsunagu:rfm:last-run"


def window_days() -> int:
    value = current_app.config.get("RFM_WINDOW_DAYS", DEFAULT_WINDOW_DAYS) if has_app_context() else None
    return int(value or DEFAULT_WINDOW_DAYS)


def thresholds() -> dict[str, int]:
    configured = current_app.config.get("RFM_THRESHOLDS") if has_app_context() else None
    return {**DEFAULT_THRESHOLDS, **(configured or {})}


def rank_for(total: int | None, limits: dict[str, int] | None = None) -> str:
    """The rank a score sum gives (None: no purchases → new)."""
    if total is None:
        return "new"
    limits = limits or thresholds()
    for rank in ("platinum", "gold", "silver"):
        if total >= limits[rank]:
            return rank
    return "bronze"


def _rank_case(expression: str) -> str:
    return (f"CASE WHEN {expression} >= :t_platinum THEN 'platinum' WHEN {expression} >= :t_gold THEN 'gold' "
            f"WHEN {expression} >= :t_silver THEN 'silver' ELSE 'bronze' END")


def _days_since(column: str, postgres: bool) -> str:
    if postgres:
        return f"CAST(EXTRACT(DAY FROM (:now - {column})) AS INTEGER)"
    return f"CAST(julianday(:now) - julianday({column}) AS INTEGER)"


def _params() -> tuple[dict, list]:
    now = utcnow()
    limits = thresholds()
    values = {"now": now, "since": now - timedelta(days=window_days()),
              "t_platinum": limits["platinum"], "t_gold": limits["gold"], "t_silver": limits["silver"]}
    binds = [bindparam("now", type_=UTCDateTime()), bindparam("since", type_=UTCDateTime())]
    return values, binds


def recompute(progress=None) -> dict:
    """Recompute every customer's RFM figures and rank in three set-based statements.

    ``progress(fraction)`` is called between steps (the RQ job reports it)."""
    started = time.monotonic()
    report = progress or (lambda fraction: None)
    postgres = is_postgres(db.session())
    values, binds = _params()
    days = _days_since("MAX(purchased_at)", postgres)
    # 1. Customers who ever bought: aggregate, score and rank in one UPDATE … FROM.
    # (Subqueries rather than a WITH clause: Python's sqlite3 reports no rowcount for WITH.)
    scored = text(f"""
        UPDATE customers SET last_purchase_at = s.last_at, recency_days = s.days, frequency = s.f,
               monetary = s.m, ltv = s.ltv, r_score = s.rs, f_score = s.fs, m_score = s.ms,
               rank_computed = {_rank_case("(s.rs + s.fs + s.ms)")}
        FROM (
            SELECT customer_id, last_at, days, f, m, ltv,
                   1 + (RANK() OVER (ORDER BY days DESC) - 1) * 5 / COUNT(*) OVER () AS rs,
                   1 + (RANK() OVER (ORDER BY f) - 1) * 5 / COUNT(*) OVER () AS fs,
                   1 + (RANK() OVER (ORDER BY m) - 1) * 5 / COUNT(*) OVER () AS ms
            FROM (
                SELECT customer_id, MAX(purchased_at) AS last_at, {days} AS days,
                       SUM(CASE WHEN purchased_at >= :since THEN 1 ELSE 0 END) AS f,
                       SUM(CASE WHEN purchased_at >= :since THEN amount ELSE 0 END) AS m,
                       SUM(amount) AS ltv
                FROM purchases GROUP BY customer_id
            ) AS agg
        ) AS s WHERE customers.id = s.customer_id
    """).bindparams(*binds)
    report(0.05)
    if postgres:
        # Aggregating every purchase and three window sorts: keep them in memory rather than
        # spilling to disk (server-side memory for this transaction only).
        db.session.execute(text("SET LOCAL work_mem = '128MB'"))
    scored_count = db.session.execute(scored, values).rowcount
    report(0.8)
    # 2. Customers without purchases (never bought, or theirs moved in a merge): new.
    reset = text("""
        UPDATE customers SET rank_computed = 'new', last_purchase_at = NULL, recency_days = NULL,
               frequency = 0, monetary = 0, ltv = 0, r_score = NULL, f_score = NULL, m_score = NULL
        WHERE NOT EXISTS (SELECT 1 FROM purchases p WHERE p.customer_id = customers.id)
          AND (rank_computed <> 'new' OR last_purchase_at IS NOT NULL OR ltv <> 0 OR r_score IS NOT NULL)
    """)
    reset_count = db.session.execute(reset).rowcount
    report(0.95)
    summary = {"at": values["now"].isoformat(), "customers_scored": scored_count, "customers_reset": reset_count,
               "window_days": window_days(), "thresholds": thresholds(),
               "duration_s": round(time.monotonic() - started, 3)}
    _remember(summary)
    return summary


def refresh_customer(customer_id: int) -> None:
    """Recompute one customer's figures now (after a purchase or a merge), scored against
    the population as of the last full recompute — the same formula as ``recompute``."""
    postgres = is_postgres(db.session())
    values, binds = _params()
    values["cid"] = customer_id
    row = db.session.execute(text(f"""
        SELECT MAX(purchased_at) AS last_at, {_days_since("MAX(purchased_at)", postgres)} AS days,
               COALESCE(SUM(CASE WHEN purchased_at >= :since THEN 1 ELSE 0 END), 0) AS f,
               COALESCE(SUM(CASE WHEN purchased_at >= :since THEN amount ELSE 0 END), 0) AS m,
               COALESCE(SUM(amount), 0) AS ltv
        FROM purchases WHERE customer_id = :cid""").bindparams(*binds), values).one()
    customer = db.session.get(Customer, customer_id)
    if customer is None:
        return
    if row.last_at is None:
        customer.last_purchase_at = customer.recency_days = None
        customer.r_score = customer.f_score = customer.m_score = None
        customer.frequency = customer.monetary = customer.ltv = 0
        customer.rank_computed = "new"
        db.session.flush()
        return
    last_at = UTCDateTime().process_result_value(row.last_at, None)
    others = db.session.execute(
        select(func.count(),
               func.sum(cast(Customer.last_purchase_at < last_at - timedelta(days=1), Integer)),
               func.sum(cast(Customer.frequency < row.f, Integer)),
               func.sum(cast(Customer.monetary < row.m, Integer)))
        .where(Customer.last_purchase_at.is_not(None), Customer.id != customer_id)).one()
    population = int(others[0] or 0) + 1

    def score(below) -> int:
        return 1 + int(below or 0) * 5 // population

    customer.last_purchase_at = last_at
    customer.recency_days = int(row.days)
    customer.frequency, customer.monetary, customer.ltv = int(row.f), int(row.m), int(row.ltv)
    customer.r_score, customer.f_score, customer.m_score = score(others[1]), score(others[2]), score(others[3])
    customer.rank_computed = rank_for(customer.r_score + customer.f_score + customer.m_score)
    db.session.flush()


def _remember(summary: dict) -> None:
    try:
        from core.redis_conn import get_redis

        get_redis().set(LAST_RUN_KEY, json.dumps(summary))
    except Exception:  # the summary is informational; the ranks are already computed
        current_app.logger.warning("could not store the RFM run summary", exc_info=True)


def last_run() -> dict | None:
    try:
        from core.redis_conn import get_redis

        raw = get_redis().get(LAST_RUN_KEY)
    except Exception:
        return None
    return json.loads(raw) if raw else None


def distribution() -> dict:
    """Customers per rank (in force, override included) and per R, F, M score."""
    active = Customer.merged_into_id.is_(None)
    rank = func.coalesce(Customer.rank_override, Customer.rank_computed)
    ranks = dict.fromkeys(RANKS, 0)
    for name, count in db.session.execute(select(rank, func.count()).where(active).group_by(rank)):
        ranks[name] = count
    scores = {}
    for key, column in (("r", Customer.r_score), ("f", Customer.f_score), ("m", Customer.m_score)):
        counts = {str(n): 0 for n in range(1, 6)}
        for value, count in db.session.execute(
                select(column, func.count()).where(active, column.is_not(None)).group_by(column)):
            counts[str(value)] = count
        scores[key] = counts
    total = sum(ranks.values())
    return {"customers": total, "ranks": ranks, "scores": scores, "window_days": window_days(),
            "thresholds": thresholds(), "last_run": last_run()}


def deciles() -> dict:
    """Decile analysis over the window (CONTRACT §8): customers with ≥ 1 purchase in it,
    ordered by spend, decile 1 the highest; revenue sums to ``total_revenue``."""
    values, binds = _params()
    rows = db.session.execute(text("""
        WITH spend AS (
            SELECT customer_id, SUM(amount) AS revenue FROM purchases
            WHERE purchased_at >= :since GROUP BY customer_id
        ), ranked AS (
            SELECT revenue, NTILE(10) OVER (ORDER BY revenue DESC, customer_id) AS decile FROM spend
        )
        SELECT decile, COUNT(*) AS customers, SUM(revenue) AS revenue FROM ranked GROUP BY decile
    """).bindparams(binds[1]), {"since": values["since"]}).all()
    found = {int(r.decile): (int(r.customers), int(r.revenue or 0)) for r in rows}
    total = sum(revenue for _, revenue in found.values())
    items = []
    for decile in range(1, 11):
        customers, revenue = found.get(decile, (0, 0))
        items.append({"decile": decile, "customers": customers, "revenue": revenue,
                      "share": (revenue / total) if total else 0.0})
    return {"items": items, "next_cursor": None, "total_revenue": total,
            "customers": sum(c for c, _ in found.values()), "window_days": window_days()}
