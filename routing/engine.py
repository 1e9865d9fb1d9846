"""The assignment engine.

Concurrency (ARCHITECTURE "Concurrency rules"): a claim happens in the caller's single
transaction as

1. lock the operator and take a unit of capacity in one statement —
   ``UPDATE operator_states SET load_<channel> = load_<channel> + 1 … WHERE
   presence='available' AND load_<channel> < capacity`` (a row lock on PostgreSQL; on
   SQLite the first write takes the database's write lock, like ``BEGIN IMMEDIATE``);
2. claim the item with a conditional ``UPDATE work_items … WHERE state='waiting'``
   (RETURNING the row); if someone else took it, the unit is given back.

Every claim of one operator passes through the same row, so capacity can never be
exceeded; the conditional update means an item is never held by two operators.  No step
reads, decides and writes across two transactions.  The load counters move with every
change of a work item's holder (``_moved``), in the same transaction.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy import select, update

from core.db import first_for_update, get_for_update, is_postgres, scratch, utcnow
from extensions import db
from routing import policy as P
from routing import store
from routing.models import Offer, OperatorState, WorkItem

log = logging.getLogger(__name__)
ACTIVE = ("offered", "assigned")
CANDIDATES_TRIED = 10  # operators tried per decision before giving up (others raced us)


# --- snapshots (read without locks; every claim re-checks under the lock) ----------

def operator_snapshots(channel: str | None = None) -> list[P.Operator]:
    """Available operators with their load per channel (the counters of operator_states)."""
    from accounts.models import User

    loads = [_load_column(name) for name in P.CHANNELS]
    rows = db.session.execute(
        select(User.id, User.tier, User.skills, User.roles_csv, OperatorState.idle_since, *loads)
        .join(OperatorState, OperatorState.user_id == User.id)
        .where(OperatorState.presence == P.PRESENCE_TAKING_WORK, User.active.is_(True))).all()
    snapshots = []
    for row in rows:
        roles = set(row.roles_csv.split(","))
        if not roles & {"operator", "supervisor", "admin"}:
            continue
        load = dict(zip(P.CHANNELS, row[5:], strict=True))
        snapshots.append(P.Operator(id=row.id, tier=row.tier, presence=P.PRESENCE_TAKING_WORK,
                                    skills=frozenset(row.skills or []), load=load, idle_since=row.idle_since))
    return snapshots


def candidate_snapshots(item: P.Item, policy: dict, now, limit: int = 50) -> list[P.Operator]:
    """The best ``limit`` operators for ``item`` by one query on the load counters:
    available, of an allowed tier, with room on the item's channel, in the policy's order.  The exact rules
    (skills, recent rejections) are then applied by ``policy.ranked_operators``."""
    from sqlalchemy import literal

    from accounts.models import User

    step = P.step_in_force(policy, item, now)
    capacity = policy["capacity"].get(item.channel, P.DEFAULT_CAPACITY.get(item.channel, 1))
    channel_load = _load_column(item.channel)
    prefer = step.get("prefer")
    tier_order = User.tier if prefer == "lowest" else (User.tier.desc() if prefer == "highest" else literal(0))
    rows = db.session.execute(
        select(User.id, User.tier, User.skills, User.roles_csv, OperatorState.idle_since, channel_load,
               OperatorState.load_total)
        .join(OperatorState, OperatorState.user_id == User.id)
        .where(OperatorState.presence == P.PRESENCE_TAKING_WORK, User.active.is_(True),
               User.tier >= step["min_tier"], channel_load < capacity)
        .order_by(tier_order, OperatorState.load_total, OperatorState.idle_since, User.id).limit(limit)).all()
    snapshots = []
    for row in rows:
        if not set(row.roles_csv.split(",")) & {"operator", "supervisor", "admin"}:
            continue
        load = dict.fromkeys(P.CHANNELS, 0)
        load[item.channel] = row[5]
        # Other channels' loads only matter for ordering by total, which the query did.
        load["_other"] = row[6] - row[5]
        snapshots.append(P.Operator(id=row.id, tier=row.tier, presence=P.PRESENCE_TAKING_WORK,
                                    skills=frozenset(row.skills or []), load=load, idle_since=row.idle_since))
    return snapshots


def as_item(work: WorkItem) -> P.Item:
    return P.Item(id=work.id, channel=work.channel, rank=work.rank, priority=work.priority,
                  waiting_since=work.waiting_since, skills=frozenset(work.skills or []))


# --- queueing ----------------------------------------------------------------------

def _item_of_ticket(ticket_id: int) -> WorkItem | None:
    """The ticket's work item, current and locked for this transaction."""
    return first_for_update(db.session, WorkItem, WorkItem.ticket_id == ticket_id)


def queue_ticket(ticket, *, skills: list[str] | None = None, new: bool = False) -> WorkItem:
    """Make ``ticket`` a waiting item (new, reopened or returned), freeing any holder.
    ``new``: the ticket was created in this transaction, so it has no item yet."""
    work = None if new else _item_of_ticket(ticket.id)
    now = utcnow()
    if work is None:
        work = WorkItem(ticket_id=ticket.id, channel=ticket.channel, rank=ticket.rank or "new",
                        priority=ticket.priority or "normal", state="waiting",
                        waiting_since=ticket.waiting_since or now, skills=skills or [])
        db.session.add(work)
    else:
        previous = work.operator_id
        before = _holding(work)
        _revoke_pending_offers(work, "requeued")
        work.state, work.operator_id, work.assigned_at, work.done_at = "waiting", None, None, None
        _moved(work, before)
        work.channel, work.priority = ticket.channel, ticket.priority or "normal"
        work.waiting_since = ticket.waiting_since or now
        work.version += 1
        if previous:
            store.after_commit_free(previous)
    work.rank_order = P.RANK_ORDER.index(work.rank) if work.rank in P.RANK_ORDER else len(P.RANK_ORDER)
    work.priority_order = P.PRIORITY_ORDER.index(work.priority) if work.priority in P.PRIORITY_ORDER else 2
    db.session.flush()
    store.record_event("queued", work, detail={"rank": work.rank, "channel": work.channel})
    _queued_here()[ticket.id] = work
    return work


def _queued_here() -> dict:
    return scratch(db.session(), "routing_queued")


def queued_in_this_transaction(ticket_id: int) -> WorkItem | None:
    """The ticket's item if ``queue_ticket`` ran for it in this transaction (the CTI
    webhook routes the item it has just queued without looking it up again)."""
    return _queued_here().get(ticket_id)


# --- claiming ------------------------------------------------------------------------

def _load_column(channel: str):
    return getattr(OperatorState, f"load_{channel}")


def _change_load(operator_id: int, channel: str, delta: int) -> None:
    column = _load_column(channel)
    db.session.execute(
        update(OperatorState).where(OperatorState.user_id == operator_id)
        .values({column.key: column + delta, "load_total": OperatorState.load_total + delta})
        .execution_options(synchronize_session=False))


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


def _reserve(operator_id: int, channel: str, capacity: int) -> bool:
    """Lock the operator's row and take one unit of their capacity on ``channel``, in one
    statement: False if they are not available or full.  (PostgreSQL re-checks the WHERE
    on the newest row after waiting for a concurrent claim, so capacity holds.)"""
    column = _load_column(channel)
    criteria = [OperatorState.user_id == operator_id, OperatorState.presence == P.PRESENCE_TAKING_WORK,
                column < capacity]
    if is_postgres(db.session):
        # An operator another transaction is claiming right now is skipped, not waited
        # for: simultaneous decisions rank the same operators first, and waiting would
        # line them up behind each other only to find the operator full.
        criteria.append(OperatorState.user_id == select(OperatorState.user_id).where(
            OperatorState.user_id == operator_id).with_for_update(skip_locked=True).scalar_subquery())
    result = db.session.execute(
        update(OperatorState).where(*criteria)
        .values({column.key: column + 1, "load_total": OperatorState.load_total + 1,
                 "version": OperatorState.version + 1})
        .execution_options(synchronize_session=False))
    return result.rowcount == 1


ITEM_TAKEN = ""  # try_claim's answer when the item was no longer waiting (falsy, unlike a state)


def try_claim(work_id: int, operator_id: int, channel: str, policy: dict, *, by: int | None = None) -> str | None:
    """Claim a waiting item for an operator atomically; returns the new state, None if the
    operator cannot take it (not available, full, or being claimed right now), or
    ``ITEM_TAKEN``."""
    capacity = policy["capacity"].get(channel, P.DEFAULT_CAPACITY.get(channel, 1))
    if not _reserve(operator_id, channel, capacity):
        return None
    new_state = "offered" if channel == "phone" else "assigned"
    now = utcnow()
    # RETURNING the row refreshes the session's copy in the same statement.
    work = db.session.scalar(
        update(WorkItem).where(WorkItem.id == work_id, WorkItem.state == "waiting")
        .values(state=new_state, operator_id=operator_id, assigned_at=now if new_state == "assigned" else None,
                version=WorkItem.version + 1).returning(WorkItem)
        .execution_options(synchronize_session=False, populate_existing=True))
    if work is None:  # someone else took the item: give the capacity back
        _change_load(operator_id, channel, -1)
        return ITEM_TAKEN
    if new_state == "offered":
        store.create_offer(work, operator_id, policy)
    else:
        store.assign_ticket(work, operator_id, by=by)
    return new_state


def route_item(work_id: int) -> WorkItem | None:
    """Find the best operator for a waiting item and claim it for them.  If nobody may
    take it now, schedule a retry for when the policy next widens."""
    work = db.session.get(WorkItem, work_id)
    if work is None or work.state != "waiting":
        return work
    policy = store.current_policy()
    now = utcnow()
    item = as_item(work)
    excluded = store.rejected_by(work.id)
    ranked = _ranked(policy, item, candidate_snapshots(item, policy, now), excluded, now)
    if not ranked and (excluded or item.skills):
        # The top candidates were all excluded or lacked a skill: look at everyone.
        ranked = _ranked(policy, item, operator_snapshots(work.channel), excluded, now)
    for operator in ranked[:CANDIDATES_TRIED]:
        if try_claim(work.id, operator.id, work.channel, policy):
            return work  # the claim's RETURNING refreshed it
    delay = P.next_widening_at(policy, item, now)
    if delay is not None:
        store.schedule_route(work.id, delay + 0.05, reason="escalation")
    return work


def _ranked(policy: dict, item: P.Item, operators: list[P.Operator], excluded: set[int], now) -> list[P.Operator]:
    for operator in operators:
        operator.excluded = frozenset({item.id}) if operator.id in excluded else frozenset()
    return P.ranked_operators(policy, item, operators, now)


def offer_next(operator_id: int) -> WorkItem | None:
    """An operator freed capacity (or became available): give them the best waiting item
    they may take now, if any."""
    from accounts.models import User

    user = db.session.get(User, operator_id)
    if user is None or not user.active:
        return None
    policy = store.current_policy()
    now = utcnow()
    snapshots = [s for s in operator_snapshots() if s.id == operator_id]
    if not snapshots:
        return None
    operator = snapshots[0]
    for channel in P.CHANNELS:
        if not P.has_room(policy, operator, channel):
            continue
        statement = (select(WorkItem).where(WorkItem.state == "waiting", WorkItem.channel == channel)
                     .order_by(WorkItem.priority_order, WorkItem.rank_order, WorkItem.waiting_since, WorkItem.id)
                     .limit(200))
        # No row locks on the candidates: the claim locks the operator, then the one item
        # (the order every claim uses, so claims cannot deadlock each other), and its
        # conditional update tells if someone else took the item meanwhile.
        excluded_items = store.items_rejected_by_operator(operator_id)
        for work in db.session.scalars(statement).all():
            operator.excluded = frozenset({work.id}) if work.id in excluded_items else frozenset()
            if P.eligible(policy, as_item(work), operator, now):
                claimed = try_claim(work.id, operator_id, channel, policy)
                if claimed:
                    return work  # the claim's RETURNING refreshed it
                if claimed is None:
                    break  # lost the operator (presence/capacity changed): stop here
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
        store.remember_rejection(work.id, offer.operator_id, store.current_policy()["reject_cooldown_s"])
        db.session.flush()
        route_item(work.id)
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

def finish_item(ticket_id: int, *, reason: str = "done") -> WorkItem | None:
    """The ticket no longer needs its holder (pending, solved, closed, hung up)."""
    work = _item_of_ticket(ticket_id)
    if work is None or work.state == "done":
        return work
    previous = work.operator_id
    before = _holding(work)
    _revoke_pending_offers(work, reason)
    work.state, work.done_at = "done", utcnow()
    work.version += 1
    _moved(work, before)
    store.record_event("done", work, operator_id=previous, detail={"reason": reason})
    if previous:
        # Idle again on this channel: the longest idle are offered first.
        db.session.execute(update(OperatorState).where(OperatorState.user_id == previous,
                                                       _load_column(work.channel) == 0)
                           .values(idle_since=utcnow()).execution_options(synchronize_session="fetch"))
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


def wrap_up_due() -> list[int]:
    """Operators whose wrap-up time is over go back to available."""
    from accounts.models import User
    from routing.presence import set_presence

    now = utcnow()
    states = db.session.scalars(select(OperatorState).where(
        OperatorState.presence == "wrap_up", OperatorState.wrap_up_until.is_not(None),
        OperatorState.wrap_up_until <= now)).all()
    done = []
    for state in states:
        state.wrap_up_until = None
        set_presence(db.session.get(User, state.user_id), "available")
        done.append(state.user_id)
    return done


def start_wrap_up(operator_id: int) -> None:
    """After a call: wrap-up for the policy's ``wrap_up_s`` (0 → straight back)."""
    from accounts.models import User
    from routing.presence import set_presence

    seconds = store.current_policy()["wrap_up_s"]
    user = db.session.get(User, operator_id)
    if user is None:
        return
    if seconds <= 0:
        set_presence(user, "available")
        return
    set_presence(user, "wrap_up")
    state = db.session.get(OperatorState, operator_id)
    state.wrap_up_until = utcnow() + timedelta(seconds=seconds)  # ended by the once-a-second sweep
