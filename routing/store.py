"""Routing's side effects and persistence: the policy row, the event log, offers and
their time-outs, the rejection cooldown (Redis), and the after-commit jobs and pushes."""
from __future__ import annotations

import copy
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import timedelta
from functools import cache

from flask import current_app, g, has_request_context
from sqlalchemy import bindparam, func, insert, select

from core import jobs
from core.db import is_postgres, on_commit, scratch, utcnow
from core.realtime import push, user_room
from core.redis_conn import get_redis
from extensions import db
from routing import policy as P
from routing.events import offer_created, offer_decided
from routing.models import Offer, RoutingEvent, RoutingPolicyRow


def run_sql(statement, params=None):
    """Run a Core statement on the session's connection (its current transaction; no
    autoflush, none of the ORM's per-statement work): routing's hot paths use it."""
    return db.session.connection().execute(statement, params)


# --- policy --------------------------------------------------------------------------

def policy_row() -> RoutingPolicyRow | None:
    return db.session.get(RoutingPolicyRow, 1)


_policy_cache: dict[int, dict] = {}
POLICY_VERSION_KEY = "tsunagu:routing:policy-version"


def forget_policies() -> None:
    """Drop this process's validated policies (tests empty the table between runs)."""
    _policy_cache.clear()


def _policy_version(cached: bytes | str | None = None) -> int:
    """The policy's version: one Redis GET (cheaper than a query), or ``cached``, what a
    pipeline read from that key; the database answers when Redis has not got it yet, and
    ``save_policy`` updates it after commit."""
    if cached is None:
        cached = get_redis().get(POLICY_VERSION_KEY)
    if cached is not None:
        return int(cached)
    version = db.session.scalar(select(RoutingPolicyRow.version).where(RoutingPolicyRow.id == 1)) or 1
    get_redis().set(POLICY_VERSION_KEY, version, nx=True, ex=3600)
    return version


def policy_in_force(version_read: bytes | str | None = None) -> dict:
    """The policy in force, validated and cached per process by version: one Redis GET.
    Shared by every caller in the process — read it, never edit it (``current_policy``
    gives an editable copy)."""
    version = _policy_version(version_read)
    document = _policy_cache.get(version)
    if document is None:
        row = policy_row()
        document = P.validate(row.document) if row else P.default_policy()
        document["version"] = version
        _policy_cache.clear()
        _policy_cache[version] = document
    return document


def current_policy() -> dict:
    """An editable copy of the policy in force (the API and the admin form round-trip
    it), the same one for the rest of the request."""
    if has_request_context() and "routing_policy" in g:
        return g.routing_policy
    document = copy.deepcopy(policy_in_force())
    if has_request_context():
        g.routing_policy = document
    return document


def save_policy(document: dict, expected_version: int | None, actor_id: int | None) -> dict:
    """Validate and store a new policy; a stale ``version`` is a conflict."""
    from core.audit import record
    from core.errors import Conflict, Invalid

    try:
        normal = P.validate(document)
    except P.PolicyError as error:
        raise Invalid("The routing policy is not valid.", fields=error.fields) from None
    row = db.session.get(RoutingPolicyRow, 1, with_for_update=True)
    current_version = row.version if row else 1
    if expected_version is not None and expected_version != current_version:
        raise Conflict(f"The policy changed meanwhile (now version {current_version}); reload and try again.")
    normal.pop("version", None)
    if row is None:
        row = RoutingPolicyRow(id=1, document=normal, version=2, updated_by=actor_id)
        db.session.add(row)
    else:
        row.document, row.version, row.updated_at, row.updated_by = normal, row.version + 1, utcnow(), actor_id
    db.session.flush()
    record("routing.policy.update", detail={"version": row.version})
    if has_request_context():
        g.pop("routing_policy", None)
    version = row.version
    on_commit(db.session(), lambda: get_redis().set(POLICY_VERSION_KEY, version, ex=3600))
    return {**normal, "version": row.version}


# --- events ----------------------------------------------------------------------------

_INSERT_EVENT = insert(RoutingEvent.__table__)
_EVENTS_HELD = "routing_events_held"  # session.info: events ``events_together`` writes at its end


def record_event(kind: str, work, *, operator_id: int | None = None,
                 actor_id: int | None = None, detail: dict | None = None) -> None:
    """Keep what routing did and why.  ``work``: the WorkItem (or the engine's row of it).
    One Core INSERT on the session's connection, at once (no unit-of-work flush), or with
    the others at the end of ``events_together``."""
    holder = operator_id if operator_id is not None else (work.operator_id if work is not None else None)
    row = {"at": utcnow(), "kind": kind, "work_item_id": work.id if work is not None else None,
           "ticket_id": work.ticket_id if work is not None else None, "operator_id": holder,
           "actor_id": actor_id, "detail": detail or {}}
    held = db.session.info.get(_EVENTS_HELD)
    if held is not None:
        held.append(row)
    else:
        run_sql(_INSERT_EVENT, row)


@contextmanager
def events_together():
    """The routing events recorded inside the block are written in one INSERT at its end
    (in the same transaction; nothing is written if the block fails)."""
    if db.session.info.get(_EVENTS_HELD) is not None:
        yield  # an outer block writes them
        return
    held = db.session.info[_EVENTS_HELD] = []
    try:
        yield
    finally:
        db.session.info.pop(_EVENTS_HELD, None)
    if held:
        run_sql(_INSERT_EVENT, held)


# --- offers ----------------------------------------------------------------------------

def _customer_columns(ticket_id):
    """The ticket's customer as an offer shows it, as three scalar subqueries: id, name
    and rank (``ticket_id``: a column or a parameter)."""
    from customers.models import Customer
    from tickets.models import Ticket

    customers, tickets = Customer.__table__, Ticket.__table__
    of_ticket = select().join_from(tickets, customers, customers.c.id == tickets.c.customer_id) \
        .where(tickets.c.id == ticket_id)
    rank = func.coalesce(customers.c.rank_override, customers.c.rank_computed, "new")
    return (of_ticket.add_columns(customers.c.id).scalar_subquery().label("customer_id"),
            of_ticket.add_columns(customers.c.name).scalar_subquery().label("customer_name"),
            of_ticket.add_columns(rank).scalar_subquery().label("customer_rank"))


def _customer_of(row) -> dict | None:
    if row.customer_id is None:
        return None
    return {"id": row.customer_id, "name": row.customer_name, "rank": row.customer_rank}


@cache
def _customer_of_ticket_statement():
    return select(*_customer_columns(bindparam("ticket_id")))


def _customer_of_ticket(ticket_id: int) -> dict | None:
    """The ticket's customer as an offer shows it (one read)."""
    return _customer_of(run_sql(_customer_of_ticket_statement(), {"ticket_id": ticket_id}).one())


def offer_payload(offer: Offer) -> dict:
    return _payload(offer.id, offer.ticket_id, offer.channel, offer.expires_at, offer.state, offer.operator_id,
                    _customer_of_ticket(offer.ticket_id))


def _payload(offer_id: int, ticket_id: int, channel: str, expires_at, state: str, operator_id: int,
             customer: dict | None) -> dict:
    return {"offer_id": offer_id, "ticket_id": ticket_id, "channel": channel, "customer": customer,
            "expires_at": expires_at.isoformat(), "state": state, "operator_id": operator_id}


@cache
def _insert_offer_statement(postgres: bool):
    """On PostgreSQL the offer's INSERT also returns its customer for the console's offer
    (no second round trip).  SQLite's RETURNING drops table names, even in subqueries, so
    there the customer is a read of its own (in process, cheap)."""
    offers = Offer.__table__
    if not postgres:
        return insert(offers).returning(offers.c.id)
    return insert(offers).returning(offers.c.id, *_customer_columns(bindparam("customer_of_ticket")))


def create_offer(work, operator_id: int, policy: dict) -> int:
    """Offer the item (a WorkItem or the engine's row of it) to the operator; returns the
    offer's id.  One INSERT; the offer reaches the console after commit."""
    timeout = policy["offer_timeout_s"]
    expires_at = utcnow() + timedelta(seconds=timeout)
    postgres = is_postgres(db.session)
    row = {"work_item_id": work.id, "ticket_id": work.ticket_id, "operator_id": operator_id, "channel": work.channel,
           "state": "pending", "created_at": utcnow(), "expires_at": expires_at, "decided_at": None, "reason": None}
    if postgres:
        row["customer_of_ticket"] = work.ticket_id
    inserted = run_sql(_insert_offer_statement(postgres), row).one()
    offer_id = inserted.id
    customer = _customer_of(inserted) if postgres else _customer_of_ticket(work.ticket_id)
    record_event("offered", work, operator_id=operator_id, detail={"offer_id": offer_id, "timeout_s": timeout})
    push("offer", _payload(offer_id, work.ticket_id, work.channel, expires_at, "pending", operator_id, customer),
         user_room(operator_id))
    # Its time-out comes from the once-a-second offer-expiry sweep (no job per offer).
    offer_created.send(current_app._get_current_object(), offer_id=offer_id, ticket_id=work.ticket_id,
                       operator_id=operator_id, channel=work.channel)
    return offer_id


def push_revoked(offer: Offer) -> None:
    offer_decided.send(current_app._get_current_object(), offer_id=offer.id, ticket_id=offer.ticket_id,
                       operator_id=offer.operator_id, decision=offer.state)
    push("offer_revoked", {"offer_id": offer.id, "ticket_id": offer.ticket_id, "reason": offer.reason},
         user_room(offer.operator_id))


def assign_ticket(work, operator_id: int, *, by: int | None = None) -> None:
    """Give the ticket to the operator (through the tickets service) and record it.
    ``work``: the WorkItem or the engine's row of it."""
    from tickets.service import assign_from_routing

    assign_from_routing(work.ticket_id, operator_id)
    waited = (utcnow() - work.waiting_since).total_seconds()
    record_event("assigned", work, operator_id=operator_id, actor_id=by, detail={"wait_s": round(waited, 3)})


# --- rejection cooldown (Redis sorted sets scored by expiry) ------------------------------

def remember_rejection(work_id: int, operator_id: int, cooldown_s: int) -> None:
    if cooldown_s <= 0:
        return
    until = time.time() + cooldown_s
    client = get_redis()
    pipe = client.pipeline()
    pipe.zadd(f"tsunagu:rejected:item:{work_id}", {str(operator_id): until})
    pipe.expire(f"tsunagu:rejected:item:{work_id}", cooldown_s + 5)
    pipe.zadd(f"tsunagu:rejected:op:{operator_id}", {str(work_id): until})
    pipe.expire(f"tsunagu:rejected:op:{operator_id}", cooldown_s + 5)
    pipe.execute()


def policy_and_rejections(work_id: int) -> tuple[dict, set[int]]:
    """What a decision needs from Redis in one round trip: the policy in force and the
    operators who rejected the item lately."""
    policy, rejections = policy_and_rejections_of([work_id])
    return policy, rejections[work_id]


def policy_and_rejections_of(work_ids: list[int]) -> tuple[dict, dict[int, set[int]]]:
    """``policy_and_rejections`` for several items in one round trip; the rejections by
    item id (an empty set for any id not asked about)."""
    pipe = get_redis().pipeline(transaction=False)
    pipe.get(POLICY_VERSION_KEY)
    now = time.time()
    for work_id in work_ids:
        pipe.zrangebyscore(f"tsunagu:rejected:item:{work_id}", now, "+inf")
    version, *members = pipe.execute()
    rejections = defaultdict(set)
    for work_id, rejected in zip(work_ids, members, strict=True):
        rejections[work_id] = {int(m) for m in rejected}
    return policy_in_force(version), rejections


def items_rejected_by_operator(operator_id: int) -> set[int]:
    members = get_redis().zrangebyscore(f"tsunagu:rejected:op:{operator_id}", time.time(), "+inf")
    return {int(m) for m in members}


# --- follow-up jobs ---------------------------------------------------------------------

DUE_ITEMS = "tsunagu:routing:due"  # sorted set: work item id scored by when to route it again


def schedule_route(work_id: int, delay_s: float, *, reason: str) -> None:
    """(After commit.) Route the item again in ``delay_s`` seconds — at once through the
    fresh-items drain, later through the due set the once-a-second sweep reads (a job
    per item would cost several Redis round trips; this costs one)."""
    if delay_s <= 0:
        on_commit(db.session(), lambda: FRESH_ITEMS.add(work_id))
        return
    due = scratch(db.session(), "routing_due")  # a batch's items: one ZADD for all of them
    if not due:
        on_commit(db.session(), lambda: get_redis().zadd(DUE_ITEMS, due))
    due[str(work_id)] = time.time() + delay_s


def take_due(now: float | None = None, limit: int = 200) -> list[int]:
    """The items whose time has come, removed from the due set (each taken by one caller)."""
    client = get_redis()
    now = time.time() if now is None else now
    taken = []
    for raw in client.zrangebyscore(DUE_ITEMS, "-inf", now, start=0, num=limit):
        if client.zrem(DUE_ITEMS, raw):  # another worker's sweep may have taken it first
            taken.append(int(raw))
    return taken


def put_back_due(work_ids: list[int]) -> None:
    if work_ids:
        get_redis().zadd(DUE_ITEMS, {str(work_id): time.time() for work_id in work_ids})


# New items and freed operators are handled by one drain job each (core.jobs.Batched).
FRESH_ITEMS = jobs.Batched("routing-fresh", "routing.jobs.route_fresh")
FREED_OPERATORS = jobs.Batched("routing-freed", "routing.jobs.operators_freed")


def route_soon(work_id: int) -> None:
    """(After commit.) Route the item soon, in the drain job of fresh items."""
    FRESH_ITEMS.add(work_id)


def drain_fresh(route_several, batch: int) -> int:
    """``route_several(ids)`` for the fresh items, ``batch`` at a time."""
    return FRESH_ITEMS.drain_batches(route_several, batch)


def drain_freed(offer_together, batch: int) -> int:
    """``offer_together(operator_ids)`` for up to ``batch`` freed operators at a time
    (each once per batch)."""
    return FREED_OPERATORS.drain_batches(offer_together, batch)


def after_commit_free(operator_id: int) -> None:
    """The operator has room again: offer them the best waiting item after commit."""
    on_commit(db.session(), lambda: FREED_OPERATORS.add(operator_id))
