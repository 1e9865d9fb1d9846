"""RQ entry points for routing (each takes ids and is safe to run twice)."""
from flask import current_app

from core.jobs import job
from extensions import db
from routing import engine, presence, stats


@job
def sweep_presence():
    """Periodic: operators whose console has been closed past the grace period go offline."""
    return presence.sweep_offline(current_app.config["PRESENCE_GRACE_S"])


def _in_own_transaction(step):
    def run(item_id: int):
        try:
            result = step(item_id)
            db.session.commit()
            return result
        except Exception:
            db.session.rollback()
            raise

    return run


@job
def route_fresh():
    """Drain the fresh-items list (store.route_soon), several items per transaction."""
    from routing.store import drain_fresh

    return drain_fresh(route_together, engine.route_batch_size())


def route_together(work_ids: list[int]) -> dict[int, str | None]:
    """Route the items in one transaction (the drain job's step; the routing bench times
    it).  Returns each item's state."""
    return _together(engine.route_many, engine.route, work_ids)


def offer_next_together(operator_ids: list[int]) -> dict[int, int | None]:
    """Offer freed operators their next items in one transaction (the drain job's step)."""
    return _together(engine.offer_next_many, engine.offer_next, operator_ids)


def _together(many, one, ids: list[int]) -> dict:
    """``many(ids)`` in one transaction; if that fails (a deadlock with another router,
    say), ``one(id)`` for each in its own, so one cannot hold the others back."""
    try:
        result = many(ids)
        db.session.commit()
        return result
    except Exception:
        db.session.rollback()
        if len(ids) == 1:
            raise
    each = _in_own_transaction(one)
    return {item: each(item) for item in ids}


@job
def route_due():
    """Periodic (every second): items whose escalation time has come are routed again."""
    from routing.store import put_back_due, take_due

    route_one = _in_own_transaction(engine.route)
    due = take_due()
    for index, work_id in enumerate(due):
        try:
            route_one(work_id)
        except Exception:
            put_back_due(due[index:])  # the next sweep tries them again
            raise
    return len(due)


@job
def operators_freed():
    """Drain the freed-operators list (store.after_commit_free), several per transaction."""
    from routing.store import drain_freed

    return drain_freed(offer_next_together, engine.route_batch_size())


@job
def expire_due_offers():
    """Periodic (every second): offers past their deadline expire and move on."""
    return engine.expire_due_offers()


@job
def end_wrap_ups():
    """Periodic (every second, inline): operators whose wrap-up time is over go back to available."""
    return presence.end_wrap_ups()


@job
def route_waiting():
    """Periodic safety net: try every waiting item whose turn may have come."""
    ids = engine.waiting_in_service_order(limit=200)
    db.session.rollback()  # the read's transaction ends before the batches begin theirs
    size, placed = engine.route_batch_size(), 0
    for start in range(0, len(ids), size):
        states = route_together(ids[start:start + size])
        placed += sum(1 for state in states.values() if state in ("offered", "assigned"))
    return placed


@job
def push_queue_stats():
    """Periodic (every second): push queue_stats to supervisors when something changed."""
    return stats.push_if_changed()
