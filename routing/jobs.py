"""RQ entry points for routing (each takes ids and is safe to run twice)."""
from flask import current_app

from core.jobs import job
from extensions import db
from routing import engine, presence, stats


@job
def sweep_presence():
    """Periodic: operators whose console has been closed past the grace period go offline."""
    return presence.sweep_offline(current_app.config["PRESENCE_GRACE_S"])


@job
def route(work_id: int):
    work = engine.route_item(work_id)
    return work.state if work is not None else None


@job
def route_fresh():
    """Drain the fresh-items list (store.route_soon), one transaction per item."""
    from routing.store import drain_fresh

    def route_one(work_id: int) -> None:
        try:
            engine.route_item(work_id)
            db.session.commit()
        except Exception:
            db.session.rollback()
            raise

    return drain_fresh(route_one)


@job
def operator_freed(operator_id: int):
    work = engine.offer_next(operator_id)
    return work.id if work is not None else None


@job
def expire_offer(offer_id: int):
    from core.db import get_for_update
    from routing.models import Offer

    offer = get_for_update(db.session, Offer, offer_id)
    if offer is None or offer.state != "pending":
        return "already decided"
    from core.db import utcnow

    if offer.expires_at > utcnow():
        return "not yet due"
    engine.decide_offer(offer, "expire", reason="timeout")
    return "expired"


@job
def expire_due_offers():
    """Periodic safety net for offers whose time-out job was lost."""
    return engine.expire_due_offers()


@job
def end_wrap_ups():
    return engine.wrap_up_due()


@job
def route_waiting():
    """Periodic safety net: try every waiting item whose turn may have come."""
    return stats.retry_waiting(limit=200)


@job
def push_queue_stats():
    """Periodic (every second): push queue_stats to supervisors when something changed."""
    return stats.push_if_changed()
