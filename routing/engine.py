"""The assignment engine.

Concurrency (ARCHITECTURE "Concurrency rules"): a claim happens in the caller's single
transaction as

1. lock the operator and take a unit of capacity in one statement —
   ``UPDATE operator_states SET load_<channel> = load_<channel> + 1 … WHERE
   presence='available' AND load_<channel> < capacity`` (a row lock on PostgreSQL; on
   SQLite the first write takes the database's write lock, like ``BEGIN IMMEDIATE``).
   For most items that statement also makes the choice: ``WHERE user_id = (the best
   available operator … LIMIT 1 FOR UPDATE SKIP LOCKED)`` (``_reserve_best_statement``);
   items needing a skill, or rejected lately, are ranked in Python first (``try_claim``);
2. claim the item with a conditional ``UPDATE work_items … WHERE state='waiting' AND
   version=<the version the decision read>``; if someone else took or changed the item,
   the unit is given back.  On PostgreSQL steps 1 and 2 are one statement (two CTEs).

Every claim of one operator passes through the same row, so capacity can never be
exceeded; the conditional update means an item is never held by two operators.  No step
reads, decides and writes across two transactions.  The load counters move with every
change of a work item's holder (``_moved``), in the same transaction.

The routing hot path (``route``, ``queue_ticket``'s new item, ``offer_next``) runs prebuilt
Core statements on the session's connection (``store.run_sql``): the same transaction, without the
ORM's per-statement work (about a quarter of the Python time of ``session.execute``).
Those statements do not autoflush: ``route`` flushes first.
"""
from __future__ import annotations

import logging
from datetime import datetime, timedelta
from functools import cache
from typing import NamedTuple

from sqlalchemy import bindparam, case, exists, func, insert, literal, or_, select, true, tuple_, union_all, update

from core.db import (
    attach_inserted,
    first_for_update,
    get_for_update,
    insert_now,
    is_postgres,
    loaded,
    on_commit,
    scratch,
    utcnow,
    written_by_hand,
)
from extensions import db
from routing import policy as P
from routing import store
from routing.models import Offer, OperatorState, RoutingEvent, WorkItem
from routing.store import run_sql

log = logging.getLogger(__name__)
ACTIVE = ("offered", "assigned")
CANDIDATES_TRIED = 10  # operators tried per decision before giving up (others raced us)
# Candidates read per decision: enough for the tries above; items needing a skill or with
# recent rejections read more, since more of the top operators may be ruled out.
CANDIDATES_READ = 16
CANDIDATES_READ_FILTERED = 50
OPERATOR_ROLES = {"operator", "supervisor", "admin"}  # roles that take work (additive roles)

ITEMS = WorkItem.__table__
STATES = OperatorState.__table__


def _users():
    from accounts.models import User

    return User.__table__


class Waiting(NamedTuple):
    """A waiting item as a decision reads it (no lock: the claim re-checks its version)."""

    id: int
    ticket_id: int
    channel: str
    rank: str
    priority: str
    waiting_since: datetime
    skills: frozenset
    version: int
    operator_id: int | None = None  # nobody holds a waiting item

    def as_item(self) -> P.Item:
        return P.Item(id=self.id, channel=self.channel, rank=self.rank, priority=self.priority,
                      waiting_since=self.waiting_since, skills=self.skills)


_WAITING_COLUMNS = (ITEMS.c.id, ITEMS.c.ticket_id, ITEMS.c.channel, ITEMS.c.rank, ITEMS.c.priority,
                    ITEMS.c.waiting_since, ITEMS.c.skills, ITEMS.c.version)
_READ_WAITING = select(*_WAITING_COLUMNS).where(ITEMS.c.id == bindparam("work_id"), ITEMS.c.state == "waiting")
_READ_WAITING_MANY = select(*_WAITING_COLUMNS).where(ITEMS.c.id.in_(bindparam("work_ids", expanding=True)),
                                                     ITEMS.c.state == "waiting")


def _waiting_of(row) -> Waiting:
    return Waiting(row.id, row.ticket_id, row.channel, row.rank, row.priority, row.waiting_since,
                   frozenset(row.skills or ()), row.version)


def waiting_item(work_id: int) -> Waiting | None:
    """The item if it is waiting (one indexed read)."""
    row = run_sql(_READ_WAITING, {"work_id": work_id}).first()
    return _waiting_of(row) if row is not None else None


# --- snapshots (read without locks; every claim re-checks under the lock) ----------

def _snapshot(row, load: dict) -> P.Operator:
    return P.Operator(id=row.id, tier=row.tier, presence=P.PRESENCE_TAKING_WORK,
                      skills=frozenset(row.skills or ()), load=load, idle_since=row.idle_since)


def _takes_work(roles_csv: str) -> bool:
    return not OPERATOR_ROLES.isdisjoint(roles_csv.split(","))


@cache
def _available_statement(with_operator: bool):
    users = _users()
    statement = (select(users.c.id, users.c.tier, users.c.skills, users.c.roles, STATES.c.idle_since,
                        *(STATES.c[f"load_{name}"] for name in P.CHANNELS))
                 .join_from(users, STATES, STATES.c.user_id == users.c.id)
                 .where(STATES.c.presence == P.PRESENCE_TAKING_WORK, users.c.active.is_(true())))
    return statement.where(users.c.id == bindparam("operator_id")) if with_operator else statement


def operator_snapshots(channel: str | None = None, operator_id: int | None = None) -> list[P.Operator]:
    """Available operators (or just ``operator_id`` if available) with their load per
    channel (the counters of operator_states)."""
    statement = _available_statement(operator_id is not None)
    snapshots = []
    for row in run_sql(statement, {"operator_id": operator_id} if operator_id is not None else None):
        if _takes_work(row.roles):
            snapshots.append(_snapshot(row, dict(zip(P.CHANNELS, row[5:], strict=True))))
    return snapshots


@cache
def _candidates_statement(channel: str, limit: int, one_tier: bool):
    """Available operators with room on ``channel`` in order of load, then idle time —
    the order of ix_operator_states_by_load, so the read stops after ``limit`` rows.  All
    tiers from ``min_tier`` up, or ``one_tier`` (a step's preferred tier order)."""
    users = _users()
    channel_load = STATES.c[f"load_{channel}"]
    tier = users.c.tier == bindparam("tier") if one_tier else users.c.tier >= bindparam("tier")
    return (select(users.c.id, users.c.tier, users.c.skills, users.c.roles, STATES.c.idle_since, channel_load,
                   STATES.c.load_total)
            .join_from(STATES, users, users.c.id == STATES.c.user_id)
            .where(STATES.c.presence == P.PRESENCE_TAKING_WORK, users.c.active.is_(true()), tier,
                   channel_load < bindparam("capacity"))
            .order_by(STATES.c.load_total, STATES.c.idle_since, STATES.c.user_id).limit(limit))


def capacity_of(policy: dict, channel: str) -> int:
    return policy["capacity"].get(channel, P.DEFAULT_CAPACITY.get(channel, 1))


def candidate_snapshots(item: P.Item, policy: dict, now, limit: int = CANDIDATES_READ) -> list[P.Operator]:
    """The best ``limit`` operators for ``item`` on the load counters: available, of an
    allowed tier, with room on the item's channel, in the policy's order.  A step that
    prefers the lowest (or highest) tier reads tier by tier until it has ``limit``.  The
    exact rules (skills, recent rejections) are then applied by ``policy.ranked_operators``."""
    step = P.step_in_force(policy, item, now)
    capacity = capacity_of(policy, item.channel)
    tiers = P.tiers_in_order(step)
    if tiers is None:
        rows = run_sql(_candidates_statement(item.channel, limit, False), {"tier": step["min_tier"], "capacity": capacity})
        return [_candidate(row, item.channel) for row in rows if _takes_work(row.roles)]
    snapshots: list[P.Operator] = []
    for tier in tiers:
        rows = run_sql(_candidates_statement(item.channel, limit, True), {"tier": tier, "capacity": capacity})
        snapshots += [_candidate(row, item.channel) for row in rows if _takes_work(row.roles)]
        if len(snapshots) >= limit:
            break
    return snapshots[:limit]


def _candidate(row, channel: str) -> P.Operator:
    channel_load = row[5]
    # Other channels' loads only matter for ordering by total, which the query did.
    return _snapshot(row, {channel: channel_load, "_other": row.load_total - channel_load})


def best_operators(item: P.Item, policy: dict, now, excluded: set[int]) -> list[P.Operator]:
    """The routing decision: the operators who may take ``item`` now, best first (the
    candidates' query, then the policy's ranking without those in ``excluded``, who
    rejected the item lately; no writes)."""
    filtered = bool(excluded or item.skills)
    limit = CANDIDATES_READ_FILTERED if filtered else CANDIDATES_READ
    ranked = _ranked(policy, item, candidate_snapshots(item, policy, now, limit), excluded, now)
    if not ranked and filtered:
        # The top candidates were all excluded or lacked a skill: look at everyone.
        ranked = _ranked(policy, item, operator_snapshots(item.channel), excluded, now)
    return ranked


def _ranked(policy: dict, item: P.Item, operators: list[P.Operator], excluded: set[int], now) -> list[P.Operator]:
    for operator in operators:
        operator.excluded = frozenset({item.id}) if operator.id in excluded else frozenset()
    return P.ranked_operators(policy, item, operators, now)


# --- queueing ----------------------------------------------------------------------

def _item_of_ticket(ticket_id: int) -> WorkItem | None:
    """The ticket's work item, current and locked for this transaction."""
    return first_for_update(db.session, WorkItem, WorkItem.ticket_id == ticket_id)


def _orders(rank: str, priority: str) -> tuple[int, int]:
    """The item's sort keys in the service order: (priority_order, rank_order)."""
    priority_order = P.PRIORITY_ORDER.index(priority) if priority in P.PRIORITY_ORDER else 2
    rank_order = P.RANK_ORDER.index(rank) if rank in P.RANK_ORDER else len(P.RANK_ORDER)
    return priority_order, rank_order


def queue_ticket(ticket, *, skills: list[str] | None = None, new: bool = False) -> WorkItem:
    """Make ``ticket`` a waiting item (new, reopened or returned), freeing any holder.
    ``new``: the ticket was created in this transaction, so it has no item yet."""
    work = None if new else _item_of_ticket(ticket.id)
    if work is None:
        work = _insert_waiting(ticket, skills or [])
    else:
        _requeue(work, ticket)
        store.record_event("queued", work, detail={"rank": work.rank, "channel": work.channel})
    _queued_here()[ticket.id] = work
    return work


@cache
def _insert_item_and_event():
    """PostgreSQL: the new item and its "queued" event in one statement; answers the id."""
    events = RoutingEvent.__table__
    item = insert(ITEMS).values({column.key: bindparam(column.key, type_=column.type)
                                 for column in ITEMS.c if column.key != "id"}).returning(ITEMS.c.id).cte("item")
    event_values = select(bindparam("at", type_=events.c.at.type), literal("queued"), item.c.id,
                          bindparam("ticket_id"), bindparam("detail", type_=events.c.detail.type))
    return (insert(events).from_select(["at", "kind", "work_item_id", "ticket_id", "detail"], event_values)
            .returning(events.c.work_item_id))


def _insert_waiting(ticket, skills: list[str]) -> WorkItem:
    """A new waiting item and its "queued" event: one statement on PostgreSQL, two on
    SQLite (a unit-of-work flush would cost several times more)."""
    rank, priority = ticket.rank or "new", ticket.priority or "normal"
    priority_order, rank_order = _orders(rank, priority)
    values = {"ticket_id": ticket.id, "channel": ticket.channel, "rank": rank, "priority": priority,
              "rank_order": rank_order, "priority_order": priority_order, "skills": skills, "state": "waiting",
              "waiting_since": ticket.waiting_since or utcnow(), "operator_id": None, "assigned_at": None,
              "done_at": None, "version": 1}
    detail = {"rank": rank, "channel": ticket.channel}
    if not is_postgres(db.session):
        work = WorkItem(**values)
        insert_now(db.session, work)
        store.record_event("queued", work, detail=detail)
        return work
    work_id = run_sql(_insert_item_and_event(), {**values, "at": utcnow(), "detail": detail}).scalar_one()
    work = WorkItem(id=work_id, **values)  # the session's copy, from what was written
    attach_inserted(db.session, work)
    return work


def _requeue(work: WorkItem, ticket) -> None:
    """Back to waiting (reopened, returned, a known caller's new call), freeing any holder."""
    previous = work.operator_id
    before = _holding(work)
    if work.state == "offered":
        _revoke_pending_offers(work, "requeued")
    work.state, work.operator_id, work.assigned_at, work.done_at = "waiting", None, None, None
    _moved(work, before)
    work.channel, work.priority = ticket.channel, ticket.priority or "normal"
    work.waiting_since = ticket.waiting_since or utcnow()
    work.priority_order, work.rank_order = _orders(work.rank, work.priority)
    work.version += 1
    db.session.flush()
    if previous:
        store.after_commit_free(previous)


def _queued_here() -> dict:
    return scratch(db.session(), "routing_queued")


def queued_in_this_transaction(ticket_id: int) -> WorkItem | None:
    """The ticket's item if ``queue_ticket`` ran for it in this transaction (the CTI
    webhook routes the item it has just queued without looking it up again)."""
    return _queued_here().get(ticket_id)


# --- claiming ------------------------------------------------------------------------

@cache
def _change_load_statement(channel: str):
    column = STATES.c[f"load_{channel}"]
    delta = bindparam("delta")
    return (update(STATES).where(STATES.c.user_id == bindparam("operator_id"))
            .values({column.key: column + delta, "load_total": STATES.c.load_total + delta}))


def _change_load(operator_id: int, channel: str, delta: int) -> None:
    run_sql(_change_load_statement(channel), {"operator_id": operator_id, "delta": delta})


def _holding(work: WorkItem) -> tuple[int, str] | None:
    """Whose load ``work`` counts in now: (operator, channel), or None."""
    return (work.operator_id, work.channel) if work.state in ACTIVE and work.operator_id else None


def _moved(work: WorkItem, before: tuple[int, str] | None) -> None:
    """Keep the load counters true after ``work`` changed holder, state or channel."""
    after = _holding(work)
    if before == after:
        return
    if before is not None:
        _change_load(*before, -1)
    if after is not None:
        _change_load(*after, +1)


@cache
def _reserve_statement(channel: str, postgres: bool):
    column = STATES.c[f"load_{channel}"]
    criteria = [STATES.c.user_id == bindparam("operator_id"), STATES.c.presence == P.PRESENCE_TAKING_WORK,
                column < bindparam("capacity")]
    if postgres:
        # An operator another transaction is claiming right now is skipped, not waited
        # for: simultaneous decisions rank the same operators first, and waiting would
        # line them up behind each other only to find the operator full.
        locked = STATES.alias("locked")
        criteria.append(STATES.c.user_id == select(locked.c.user_id).where(
            locked.c.user_id == bindparam("operator_id")).with_for_update(skip_locked=True).scalar_subquery())
    return (update(STATES).where(*criteria)
            .values({column.key: column + 1, "load_total": STATES.c.load_total + 1,
                     "version": STATES.c.version + 1}))


def _reserve(operator_id: int, channel: str, capacity: int) -> bool:
    """Lock the operator's row and take one unit of their capacity on ``channel``, in one
    statement: False if they are not available or full.  (PostgreSQL re-checks the WHERE
    on the newest row after waiting for a concurrent claim, so capacity holds.)"""
    statement = _reserve_statement(channel, is_postgres(db.session))
    return run_sql(statement, {"operator_id": operator_id, "capacity": capacity}).rowcount == 1


_CLAIM_ITEM = (update(ITEMS)
               .where(ITEMS.c.id == bindparam("work_id"), ITEMS.c.state == "waiting",
                      ITEMS.c.version == bindparam("read_version"))
               .values(state=bindparam("new_state"), operator_id=bindparam("holder"),
                       assigned_at=bindparam("at", type_=ITEMS.c.assigned_at.type), version=ITEMS.c.version + 1))

ITEM_TAKEN = ""  # try_claim's answer when the item was no longer waiting (falsy, unlike a state)


@cache
def _claim_item_locked_first():
    """PostgreSQL: ``_CLAIM_ITEM``, skipping an item another transaction holds right now
    (claiming it for someone else, say) instead of waiting for it, as reservations skip a
    held operator.  Waiting there, with an operator's row held, is how two routers that
    claim several items in one transaction deadlock; the item is theirs, or the safety
    net routes it again."""
    locked = ITEMS.alias("locked_item")
    return _CLAIM_ITEM.where(ITEMS.c.id == select(locked.c.id).where(locked.c.id == bindparam("work_id"))
                             .with_for_update(skip_locked=True).scalar_subquery())


@cache
def _claim_in_one_statement(channel: str):
    """PostgreSQL: the reservation and the item's claim in one round trip.  The claim's
    ``EXISTS`` reads the reservation's result, so the operator's row is locked first (the
    order every claim uses); answers (units reserved, items claimed)."""
    reserved = _reserve_statement(channel, True).returning(STATES.c.user_id).cte("reserved")
    claimed = _claim_item_locked_first().where(exists(select(reserved.c.user_id))).returning(ITEMS.c.id).cte("claimed")
    return select(select(func.count()).select_from(reserved).scalar_subquery(),
                  select(func.count()).select_from(claimed).scalar_subquery())


def _takes_work_sql(users):
    """Roles that take work (operator, or supervisor and admin, which include it); the
    role names are a fixed set, none a part of another."""
    return or_(*(users.c.roles.contains(role) for role in sorted(OPERATOR_ROLES)))


@cache
def _best_operator(channel: str, tiers_in_order: int, postgres: bool):
    """The best available operator with room on ``channel``: fewest open items, then
    longest idle, read in the order of ix_operator_states_by_load.  ``tiers_in_order`` 0:
    of tier ``tier`` and up, all alike; n > 0: of tier ``tier_0`` if any, else ``tier_1``
    … (a step's preferred order), in one statement that stops at the first tier with
    someone (``LIMIT 1`` over the tiers' ``UNION ALL``).  PostgreSQL locks that row,
    skipping operators other claims hold right now (they are being filled; waiting would
    line routers up)."""
    if tiers_in_order == 0:
        return _best_of(channel, _users().c.tier >= bindparam("tier"), postgres, "best").scalar_subquery()
    branches = []
    for index in range(tiers_in_order):
        users = _users().alias(f"users_{index}")
        best = _best_of(channel, users.c.tier == bindparam(f"tier_{index}"), postgres, f"best_{index}", users)
        branches.append(select(best.subquery(f"tier_{index}").c.user_id))
    return union_all(*branches).limit(1).scalar_subquery()


def _best_of(channel: str, tier_criterion, postgres: bool, name: str, users=None):
    users, best = users if users is not None else _users(), STATES.alias(name)
    query = (select(best.c.user_id).join_from(best, users, users.c.id == best.c.user_id)
             .where(best.c.presence == P.PRESENCE_TAKING_WORK, users.c.active.is_(true()), tier_criterion,
                    best.c[f"load_{channel}"] < bindparam("capacity"), _takes_work_sql(users))
             .order_by(best.c.load_total, best.c.idle_since, best.c.user_id).limit(1))
    return query.with_for_update(of=best, skip_locked=True) if postgres else query


@cache
def _reserve_best_statement(channel: str, tiers_in_order: int, postgres: bool):
    """Take a unit of the best operator's capacity: ``UPDATE … RETURNING`` their id (the
    same checks as ``_reserve``, on the row the choice just locked)."""
    column = STATES.c[f"load_{channel}"]
    return (update(STATES)
            .where(STATES.c.user_id == _best_operator(channel, tiers_in_order, postgres),
                   STATES.c.presence == P.PRESENCE_TAKING_WORK, column < bindparam("capacity"))
            .values({column.key: column + 1, "load_total": STATES.c.load_total + 1,
                     "version": STATES.c.version + 1})
            .returning(STATES.c.user_id))


@cache
def _choose_and_claim_in_one_statement(channel: str, tiers_in_order: int):
    """PostgreSQL: choose, reserve and claim in one round trip; answers (the operator or
    None, items claimed)."""
    reserved = _reserve_best_statement(channel, tiers_in_order, True).cte("reserved")
    holder = select(reserved.c.user_id).scalar_subquery()
    claimed = (_claim_item_locked_first().where(exists(select(reserved.c.user_id))).values(operator_id=holder)
               .returning(ITEMS.c.id).cte("claimed"))
    return select(holder, select(func.count()).select_from(claimed).scalar_subquery())


def _reserve_best_and_claim(item: Waiting, tiers: tuple[int, dict], capacity: int, new_state: str,
                            assigned_at) -> tuple[int | None, bool]:
    """(the operator whose unit was reserved or None, the item was claimed for them);
    ``tiers``: ``_tier_plan``'s answer."""
    tiers_in_order, tier_params = tiers
    params = {**tier_params, "capacity": capacity, "work_id": item.id, "read_version": item.version,
              "new_state": new_state, "at": assigned_at}
    if is_postgres(db.session):
        operator_id, claimed = run_sql(_choose_and_claim_in_one_statement(item.channel, tiers_in_order), params).one()
        return operator_id, claimed == 1
    operator_id = run_sql(_reserve_best_statement(item.channel, tiers_in_order, False), params).scalar()
    if operator_id is None:
        return None, False
    return operator_id, run_sql(_CLAIM_ITEM, {**params, "holder": operator_id}).rowcount == 1


def _reserve_and_claim(item: Waiting, operator_id: int, capacity: int, new_state: str, assigned_at) -> tuple[bool, bool]:
    """(the operator's unit of capacity was reserved, the item was claimed)."""
    params = {"operator_id": operator_id, "capacity": capacity, "work_id": item.id, "read_version": item.version,
              "new_state": new_state, "holder": operator_id, "at": assigned_at}
    if is_postgres(db.session):
        reserved, claimed = run_sql(_claim_in_one_statement(item.channel), params).one()
        return reserved == 1, claimed == 1
    if not _reserve(operator_id, item.channel, capacity):
        return False, False
    return True, run_sql(_CLAIM_ITEM, params).rowcount == 1


def try_claim(item: Waiting, operator_id: int, policy: dict, *, by: int | None = None) -> str | None:
    """Claim a waiting item for an operator atomically; returns the new state, None if the
    operator cannot take it (not available, full, or being claimed right now), or
    ``ITEM_TAKEN`` (someone else took the item, or it changed since ``item`` was read)."""
    new_state, assigned_at = _new_state(item)
    reserved, claimed = _reserve_and_claim(item, operator_id, capacity_of(policy, item.channel), new_state,
                                           assigned_at)
    if not reserved:
        return None
    return _claimed(item, operator_id, new_state, assigned_at, policy, by=by) if claimed \
        else _give_back(item, operator_id)


def _new_state(item: Waiting) -> tuple[str, datetime | None]:
    """A phone item is offered (accepted or rejected by the operator); others are assigned."""
    return ("offered", None) if item.channel == "phone" else ("assigned", utcnow())


def _give_back(item: Waiting, operator_id: int) -> str:
    """The operator's unit was reserved but someone else took the item: return the unit."""
    _change_load(operator_id, item.channel, -1)
    return ITEM_TAKEN


def _claimed(item: Waiting, operator_id: int, new_state: str, assigned_at, policy: dict, *,
             by: int | None = None) -> str:
    """The item is the operator's now: the session's copy follows, then the offer or the
    ticket's assignment."""
    work = loaded(db.session, WorkItem, item.id)  # e.g. the one the CTI webhook just queued
    if work is not None:
        written_by_hand(work, state=new_state, operator_id=operator_id, assigned_at=assigned_at,
                        version=item.version + 1)
    held = item._replace(operator_id=operator_id)
    if new_state == "offered":
        store.create_offer(held, operator_id, policy)
    else:
        store.assign_ticket(held, operator_id, by=by)
    return new_state


def _queued_copy(work_id: int) -> WorkItem | None:
    return next((work for work in _queued_here().values() if work.id == work_id), None)


def _queued_and_waiting(work_id: int) -> Waiting | None:
    """The item if ``queue_ticket`` wrote it in this transaction and it still waits (the
    CTI webhook routes the call it has just queued): no need to read it back."""
    work = _queued_copy(work_id)
    return _waiting_of(work) if work is not None and work.state == "waiting" else None


def route(work_id: int, *, fresh: bool = False) -> str | None:
    """Find the best operator for a waiting item and claim it for them; returns the item's
    state afterwards ("offered", "assigned" or "waiting"), None if it was not waiting.  If
    nobody may take it now, schedule a retry for when the policy next widens.  A ``fresh``
    item (a new call or ticket) does not overtake older items waiting in its channel
    (``_serve_older_first``)."""
    db.session.flush()  # the Core statements below do not autoflush
    item = _queued_and_waiting(work_id) or waiting_item(work_id)
    if item is None:
        return None
    policy, excluded = store.policy_and_rejections(work_id)
    if fresh and _older_items_wait(item):
        return _serve_older_first(item, policy, excluded)
    return _route_waiting(item, policy, excluded)


ROUTE_BATCH = 20  # items routed per transaction by the drain job (SQLite: see route_batch_size)


def route_batch_size() -> int:
    """How many items one transaction routes: fewer on SQLite, where the transaction holds
    the only write lock and web requests wait for it."""
    return ROUTE_BATCH if is_postgres(db.session) else 5


def route_many(work_ids: list[int]) -> dict[int, str | None]:
    """``route`` for several items in one transaction (the drain job's batches): the items
    in one read, the policy and their rejections in one Redis round trip, the routing
    events in one INSERT, the pushes in one publish at commit.  The caller commits."""
    db.session.flush()
    items = {row.id: _waiting_of(row) for row in run_sql(_READ_WAITING_MANY, {"work_ids": list(work_ids)})}
    policy, rejections = store.policy_and_rejections_of(list(items))
    states: dict[int, str | None] = {}
    with store.events_together():
        for work_id in work_ids:
            item = items.pop(work_id, None)  # an id twice in the batch is routed once
            states[work_id] = _route_waiting(item, policy, rejections[work_id]) if item else states.get(work_id)
    return states


def _route_waiting(item: Waiting, policy: dict, excluded: set[int]) -> str | None:
    """``route`` once the item is read."""
    now = utcnow()
    if excluded or item.skills:
        state = _route_by_ranking(item, policy, now, excluded)
    else:
        state = _route_to_best(item, policy, now)
    if state == ITEM_TAKEN:
        return None  # another router has it, or it changed (whoever changed it routes it)
    if state:
        return state
    return _wait_for_widening(item, policy, now)


def _wait_for_widening(item: Waiting, policy: dict, now) -> str:
    """Nobody may take the item now: route it again when the policy next widens."""
    delay = P.next_widening_at(policy, item.as_item(), now)
    if delay is not None:
        store.schedule_route(item.id, delay + 0.05, reason="escalation")
    return "waiting"


FAIR_TRIES = 3  # operators a fresh item hands to older items before it waits its turn


@cache
def _older_waiting_statement():
    order = (bindparam("priority_order"), bindparam("rank_order"),
             bindparam("waiting_since", type_=ITEMS.c.waiting_since.type), bindparam("work_id"))
    return (select(ITEMS.c.id).where(ITEMS.c.state == "waiting", ITEMS.c.channel == bindparam("channel"),
                                     tuple_(*SERVICE_ORDER) < tuple_(*order)).limit(1))


def _older_items_wait(item: Waiting) -> bool:
    """Is an item ahead of this one in the service order waiting in its channel?"""
    priority_order, rank_order = _orders(item.rank, item.priority)
    return run_sql(_older_waiting_statement(), {
        "channel": item.channel, "priority_order": priority_order, "rank_order": rank_order,
        "waiting_since": item.waiting_since, "work_id": item.id}).first() is not None


def _serve_older_first(item: Waiting, policy: dict, excluded: set[int]) -> str | None:
    """A fresh item while older ones wait in its channel (their operators were freed, and
    the drain job that offers them work has not run yet): the operator this item would get
    is offered the best waiting item of the channel *they* may take — an older one they
    are eligible for, else this one — so a caller who has waited is not overtaken by one
    who has just called.  After ``FAIR_TRIES`` operators the fresh-items job routes it."""
    now = utcnow()
    for _ in range(FAIR_TRIES):
        operator_id = first_choice(item, policy, now, excluded)
        if operator_id is None:
            return _wait_for_widening(item, policy, now)
        taken = offer_next(operator_id, channel=item.channel)
        if taken == item.id:
            return _new_state(item)[0]
        if taken is None:  # the operator changed meanwhile: route this item as usual
            return _route_waiting(item, policy, excluded)
    on_commit(db.session(), lambda: store.route_soon(item.id))
    return "waiting"


def _tier_plan(policy: dict, item: Waiting, now) -> tuple[int, dict]:
    """Which tiers ``_best_operator`` reads for the step in force: (0, {tier: the step's
    minimum}) when any tier from it will do, else (n, {tier_0: …, tier_1: …}) in the
    order the step prefers."""
    step = P.step_in_force(policy, item.as_item(), now)
    tiers = P.tiers_in_order(step)
    if tiers is None:
        return 0, {"tier": step["min_tier"]}
    return len(tiers), {f"tier_{index}": tier for index, tier in enumerate(tiers)}


def _route_to_best(item: Waiting, policy: dict, now) -> str | None:
    """An item any operator of an allowed tier may take: the database picks the best of
    them (in the step's tier order) and reserves their capacity in one statement
    (``_reserve_best_statement``).  Returns the new state, ``ITEM_TAKEN``, or None when
    nobody may take it now."""
    capacity = capacity_of(policy, item.channel)
    new_state, assigned_at = _new_state(item)
    operator_id, claimed = _reserve_best_and_claim(item, _tier_plan(policy, item, now), capacity, new_state,
                                                   assigned_at)
    if operator_id is None:
        return None
    return _claimed(item, operator_id, new_state, assigned_at, policy) if claimed else _give_back(item, operator_id)


def first_choice(item: Waiting, policy: dict, now, excluded: set[int]) -> int | None:
    """The decision alone: the operator ``route`` would claim ``item`` for now, read
    without locks or writes (the routing benchmark times it)."""
    if excluded or item.skills:
        ranked = best_operators(item.as_item(), policy, now, excluded)
        return ranked[0].id if ranked else None
    tiers_in_order, tier_params = _tier_plan(policy, item, now)
    return run_sql(select(_best_operator(item.channel, tiers_in_order, False)),
                {**tier_params, "capacity": capacity_of(policy, item.channel)}).scalar()


def _route_by_ranking(item: Waiting, policy: dict, now, excluded: set[int]) -> str | None:
    """An item with required skills or recent rejections: rank the candidates by the
    policy's rules here, then claim the first who can take it."""
    for operator in best_operators(item.as_item(), policy, now, excluded)[:CANDIDATES_TRIED]:
        claimed = try_claim(item, operator.id, policy)
        if claimed is not None:
            return claimed
    return None


def route_item(work_id: int, *, fresh: bool = False) -> WorkItem | None:
    """``route``, returning the item (the session's copy is current after a claim)."""
    route(work_id, fresh=fresh)
    return db.session.get(WorkItem, work_id)


SERVICE_ORDER = (ITEMS.c.priority_order, ITEMS.c.rank_order, ITEMS.c.waiting_since, ITEMS.c.id)
_WAITING_FOR_CHANNEL = (select(*_WAITING_COLUMNS)
                        .where(ITEMS.c.state == "waiting", ITEMS.c.channel == bindparam("channel"))
                        .order_by(*SERVICE_ORDER).limit(200))
_WAITING_IDS = select(ITEMS.c.id).where(ITEMS.c.state == "waiting").order_by(*SERVICE_ORDER).limit(bindparam("limit"))


def waiting_in_service_order(limit: int) -> list[int]:
    """The ids of the waiting items, the ones to serve first first."""
    return list(run_sql(_WAITING_IDS, {"limit": limit}).scalars())


def offer_next(operator_id: int, *, channel: str | None = None) -> int | None:
    """An operator freed capacity (or became available): give them the best waiting item
    they may take now (of ``channel`` only, if given), if any; returns its id."""
    return offer_next_many([operator_id], channels=(channel,) if channel else P.CHANNELS)[operator_id]


def offer_next_many(operator_ids: list[int], *, channels: tuple[str, ...] = P.CHANNELS) -> dict[int, int | None]:
    """``offer_next`` for several freed operators in one transaction (the drain job's
    batches), in order: the waiting items of a channel are read once for the batch, and an
    item one of them took is not tried for the next.  Returns each operator's item id."""
    policy = store.policy_in_force()
    now = utcnow()
    waiting: dict[str, list[Waiting]] = {}
    tried: set[int] = set()  # items taken in this batch, by these operators or another router
    return {operator_id: _offer_next(operator_id, policy, now, waiting, tried, channels)
            for operator_id in dict.fromkeys(operator_ids)}


def _offer_next(operator_id: int, policy: dict, now, waiting: dict, tried: set[int],
                channels: tuple[str, ...]) -> int | None:
    snapshots = operator_snapshots(operator_id=operator_id)
    if not snapshots:
        return None  # not available, not active, or not an operator
    operator = snapshots[0]
    excluded_items = None
    for channel in channels:
        if not P.has_room(policy, operator, channel):
            continue
        if excluded_items is None:
            excluded_items = store.items_rejected_by_operator(operator_id)
        if channel not in waiting:
            waiting[channel] = [_waiting_of(row) for row in run_sql(_WAITING_FOR_CHANNEL, {"channel": channel})]
        # No row locks on the candidates: the claim locks the operator, then the one item
        # (the order every claim uses, so claims cannot deadlock each other), and its
        # conditional update tells if someone else took the item meanwhile.
        for item in waiting[channel]:
            if item.id in tried:
                continue
            operator.excluded = frozenset({item.id}) if item.id in excluded_items else frozenset()
            if P.eligible(policy, item.as_item(), operator, now):
                claimed = try_claim(item, operator_id, policy)
                if claimed is None:
                    break  # lost the operator (presence/capacity changed): stop here
                tried.add(item.id)  # theirs now, or someone else's (ITEM_TAKEN)
                if claimed:
                    return item.id
    return None


# --- offers ------------------------------------------------------------------------

def decide_offer(offer: Offer, decision: str, *, reason: str | None = None) -> Offer:
    """Accept, reject or expire a pending offer (idempotent for repeated decisions)."""
    if offer.state != "pending":
        return offer
    work = get_for_update(db.session, WorkItem, offer.work_item_id)
    db.session.refresh(offer)  # decided meanwhile (time-out vs accept)? read it under the lock
    if offer.state != "pending":
        return offer
    now = utcnow()
    offer.decided_at = now
    if decision == "accept":
        offer.state = "accepted"
        with store.events_together():  # "assigned" and "accepted": one INSERT
            if work is not None and work.state == "offered" and work.operator_id == offer.operator_id:
                work.state, work.assigned_at = "assigned", now
                work.version += 1
                store.assign_ticket(work, offer.operator_id, by=offer.operator_id)
            store.record_event("accepted", work, operator_id=offer.operator_id, detail={"offer_id": offer.id})
        return offer
    offer.state = "rejected" if decision == "reject" else "expired"
    offer.reason = reason or offer.state
    store.record_event(offer.state, work, operator_id=offer.operator_id,
                       detail={"offer_id": offer.id, "reason": offer.reason})
    store.push_revoked(offer)
    if work is not None and work.state == "offered" and work.operator_id == offer.operator_id:
        before = _holding(work)
        work.state, work.operator_id = "waiting", None
        work.version += 1
        _moved(work, before)
        store.remember_rejection(work.id, offer.operator_id, store.policy_in_force()["reject_cooldown_s"])
        db.session.flush()
        route(work.id)
    return offer


def expire_due_offers() -> int:
    """Expire every pending offer past its deadline (the once-a-second sweep)."""
    due = db.session.scalars(select(Offer).where(Offer.state == "pending", Offer.expires_at <= utcnow())
                             .order_by(Offer.id).limit(500)).all()
    for offer in due:
        decide_offer(offer, "expire", reason="timeout")
    return len(due)


def _revoke_pending_offers(work: WorkItem, reason: str) -> None:
    for offer in db.session.scalars(select(Offer).where(Offer.work_item_id == work.id, Offer.state == "pending")):
        offer.state, offer.decided_at, offer.reason = "revoked", utcnow(), reason
        store.push_revoked(offer)


# --- releasing ----------------------------------------------------------------------

@cache
def _idle_again_statement(channel: str):
    return (update(STATES).where(STATES.c.user_id == bindparam("operator_id"), STATES.c[f"load_{channel}"] == 0)
            .values(idle_since=bindparam("now", type_=STATES.c.idle_since.type)))


@cache
def _released_statement(channel: str):
    """The operator's unit on ``channel`` comes back, and if it was their last one there
    they are idle again from now: the load change (``delta`` -1) and the idle time in one
    statement (the right-hand sides read the row as it was before the update, on both
    databases)."""
    now = bindparam("now", type_=STATES.c.idle_since.type)
    last_one = STATES.c[f"load_{channel}"] == 1
    return _change_load_statement(channel).values(idle_since=case((last_one, now), else_=STATES.c.idle_since))


def finish_item(ticket_id: int, *, reason: str = "done") -> WorkItem | None:
    """The ticket no longer needs its holder (pending, solved, closed, hung up); the
    holder is idle again on the channel once it was their last item there (the longest
    idle are offered first)."""
    work = _item_of_ticket(ticket_id)
    if work is None or work.state == "done":
        return work
    previous = work.operator_id
    before = _holding(work)
    if work.state == "offered":
        _revoke_pending_offers(work, reason)
    work.state, work.done_at = "done", utcnow()
    work.version += 1
    store.record_event("done", work, operator_id=previous, detail={"reason": reason})
    if before is not None:
        run_sql(_released_statement(before[1]), {"operator_id": before[0], "delta": -1, "now": utcnow()})
    elif previous:
        run_sql(_idle_again_statement(work.channel), {"operator_id": previous, "now": utcnow()})
    if previous:
        store.after_commit_free(previous)
    return work


def hold_by(ticket_id: int, operator_id: int | None, *, by: int | None = None) -> WorkItem | None:
    """A person assigned the ticket by hand (take it / reassign): the item follows."""
    work = _item_of_ticket(ticket_id)
    if work is None:
        return None
    if work.operator_id == operator_id and work.state == "assigned":
        return work
    previous = work.operator_id
    before = _holding(work)
    if work.state == "offered":
        _revoke_pending_offers(work, "reassigned")
    if operator_id is None:
        work.state, work.operator_id, work.waiting_since = "waiting", None, utcnow()
        store.schedule_route(work.id, 0, reason="returned")
    else:
        work.state, work.operator_id, work.assigned_at = "assigned", operator_id, utcnow()
    work.version += 1
    _moved(work, before)
    store.record_event("reassigned", work, operator_id=operator_id, actor_id=by, detail={"from": previous})
    if previous and previous != operator_id:
        store.after_commit_free(previous)
    return work


def start_wrap_up(operator_id: int) -> None:
    """After a call: wrap-up for the policy's ``wrap_up_s`` (0 → straight back)."""
    from accounts.models import User
    from routing.presence import set_presence

    seconds = store.policy_in_force()["wrap_up_s"]
    user = db.session.get(User, operator_id)
    if user is None:
        return
    if seconds <= 0:
        set_presence(user, "available")
        return
    # Ended by the once-a-second sweep.
    set_presence(user, "wrap_up", wrap_up_until=utcnow() + timedelta(seconds=seconds))
