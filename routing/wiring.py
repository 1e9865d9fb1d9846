"""Routing reacts to the lower layers: tickets that need an operator, tickets that change,
presence changes; and registers its periodic jobs."""
from __future__ import annotations

from flask import Flask

from core.db import on_commit
from core.scheduler import Periodic, register
from extensions import db
from routing import store

# A ticket in these states holds capacity (CONTRACT §8 "Capacity").
HOLDING = ("new", "open")


def init_app(app: Flask) -> None:
    from extensions import api
    from routing.api import blp
    from routing.presence import presence_changed
    from tickets.events import ticket_changed, ticket_needs_routing

    api.register_blueprint(blp)
    ticket_needs_routing.connect(_on_needs_routing, app, weak=False)
    ticket_changed.connect(_on_ticket_changed, app, weak=False)
    presence_changed.connect(_on_presence_changed, app, weak=False)
    register(Periodic("presence-sweep", "routing.jobs.sweep_presence", every_s=10, queue="high"))
    register(Periodic("queue-stats", "routing.jobs.push_queue_stats", every_s=1, queue="high"))
    # Offer time-outs, wrap-up ends and escalations are swept every second rather than a
    # job each, in the worker's ticking thread (inline) so a busy job queue cannot delay them.
    register(Periodic("offer-expiry", "routing.jobs.expire_due_offers", every_s=1, inline=True))
    register(Periodic("wrap-up-end", "routing.jobs.end_wrap_ups", every_s=1, inline=True))
    register(Periodic("route-due", "routing.jobs.route_due", every_s=1, inline=True))
    register(Periodic("route-waiting", "routing.jobs.route_waiting", every_s=15, queue="high"))


def _on_needs_routing(app, ticket_id: int, reason: str = "", **_):
    """Queue the ticket and route it after commit.  (The CTI webhook also routes its call
    at once in the request; the job then finds the item taken and does nothing.)"""
    from routing import engine
    from tickets.models import Ticket

    ticket = db.session.get(Ticket, ticket_id)
    if ticket is None:
        return
    work = engine.queue_ticket(ticket, new=reason == "created")

    def _route_later():
        if work.state == "waiting":  # not already placed in this request (the CTI webhook routes inline)
            store.route_soon(work.id)

    on_commit(db.session(), _route_later)


def _on_ticket_changed(app, ticket_id: int, changes: dict, **_):
    from routing import engine

    if "status" in changes:
        _old, new = changes["status"]
        if new not in HOLDING:
            engine.finish_item(ticket_id, reason=new)
    if "assignee_id" in changes:
        _old, new = changes["assignee_id"]
        if new is not None:  # back to the queue arrives as ticket_needs_routing("returned")
            engine.hold_by(ticket_id, new)


def _on_presence_changed(app, user_id: int, previous: str, presence: str, **_):
    if presence == "available":
        store.after_commit_free(user_id)
