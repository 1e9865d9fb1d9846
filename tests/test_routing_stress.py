"""Routing under concurrency: four real worker processes route while threads flip
presence, solve tickets and answer offers.  At the end no operator holds more than their
capacity and no item is held by two operators (ARCHITECTURE "Concurrency rules")."""
import random
import threading
import time

import pytest
from sqlalchemy import func, select

pytestmark = pytest.mark.processes

OPERATORS = 10
TICKETS = 120


def _queues_empty(app) -> bool:
    from core.jobs import QUEUES, queue

    with app.app_context():
        return all(len(queue(name)) == 0 for name in QUEUES)


def test_many_workers_never_exceed_capacity_or_double_hold(app, processes, make_user):
    from accounts.models import User
    from customers import service as customers
    from extensions import db
    from routing import engine
    from routing.models import Offer, OperatorState, RoutingEvent, WorkItem
    from routing.presence import set_presence
    from tickets import service as tickets
    from tickets.models import Ticket

    operator_ids = [make_user(f"stress{i}", roles="operator", tier=1 + i % 3)[0] for i in range(OPERATORS)]
    with app.app_context():
        for user_id in operator_ids:
            set_presence(db.session.get(User, user_id), "available")
        ranks = ["platinum", "gold", "silver", "bronze", "new"]
        people = []
        for index in range(20):
            customer = customers.create({"name": f"客{index}"})
            customer.rank_override = ranks[index % 5]
            people.append(customer)
        db.session.commit()
        channels = ["email", "email", "web", "phone", "chat"]
        for index in range(TICKETS):
            tickets.open_ticket(people[index % 20], subject=f"stress {index}", channel=channels[index % 5])
            if index % 10 == 9:
                db.session.commit()  # jobs start flowing while tickets keep arriving
        db.session.commit()

    workers = [processes.worker() for _ in range(4)]
    stop = threading.Event()
    errors: list[BaseException] = []

    def churn(seed: int):
        rng = random.Random(seed)
        while not stop.is_set():
            try:
                with app.app_context():
                    action = rng.random()
                    if action < 0.35:
                        user = db.session.get(User, rng.choice(operator_ids))
                        set_presence(user, rng.choice(["available", "available", "busy", "away"]))
                    elif action < 0.65:
                        held = db.session.scalars(select(WorkItem.ticket_id).where(WorkItem.state == "assigned")
                                                  .limit(20)).all()
                        if held:
                            ticket = db.session.get(Ticket, rng.choice(held))
                            tickets.update(ticket, {"status": rng.choice(["pending", "solved"])})
                    else:
                        offer = db.session.scalar(select(Offer).where(Offer.state == "pending").limit(1))
                        if offer is not None:
                            engine.decide_offer(offer, rng.choice(["accept", "accept", "reject"]))
                    db.session.commit()
            except Exception as error:  # a lost race is fine (rolled back); anything else is a bug
                from sqlalchemy.exc import OperationalError

                with app.app_context():
                    db.session.rollback()
                if not isinstance(error, OperationalError) and "deadlock" not in str(error).lower():
                    errors.append(error)
            time.sleep(0.005)

    threads = [threading.Thread(target=churn, args=(seed,)) for seed in range(3)]
    try:
        for thread in threads:
            thread.start()
        time.sleep(6)
        stop.set()
        for thread in threads:
            thread.join(30)
        # Everyone available again so the workers drain what the churn queued.  One
        # operator per transaction, retried: with workers still claiming, PostgreSQL may
        # pick this transaction as a deadlock victim (jobs and requests retry the same way).
        from sqlalchemy.exc import OperationalError

        for user_id in operator_ids:
            for _attempt in range(5):
                try:
                    with app.app_context():
                        set_presence(db.session.get(User, user_id), "available")
                        db.session.commit()
                    break
                except OperationalError:
                    time.sleep(0.1)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _queues_empty(app):
            time.sleep(0.2)
        time.sleep(1.0)
    finally:
        stop.set()
        for worker in workers:  # never leave workers behind for later tests
            worker.terminate()
        for worker in workers:
            worker.wait(15)
    assert not errors, errors[:3]

    with app.app_context():
        from routing.store import current_policy

        capacity = current_policy()["capacity"]
        loads = db.session.execute(
            select(WorkItem.operator_id, WorkItem.channel, func.count())
            .where(WorkItem.state.in_(("offered", "assigned"))).group_by(WorkItem.operator_id, WorkItem.channel)).all()
        for operator_id, channel, count in loads:
            assert count <= capacity[channel], (operator_id, channel, count)
        # The load counters the claims check agree with the items actually held.
        counted = {(operator_id, channel): count for operator_id, channel, count in loads}
        for state in db.session.scalars(select(OperatorState)):
            for channel in ("phone", "email", "web", "chat"):
                assert getattr(state, f"load_{channel}") == counted.get((state.user_id, channel), 0), \
                    (state.user_id, channel)
            assert state.load_total == sum(n for (op, _), n in counted.items() if op == state.user_id)
        # Routing did work during the churn (the churn may have solved every ticket since).
        placed = db.session.scalar(select(func.count()).select_from(RoutingEvent)
                                   .where(RoutingEvent.kind.in_(("offered", "assigned"))))
        assert placed >= TICKETS // 4, f"routing placed only {placed} items"
        held = db.session.scalars(select(WorkItem).where(WorkItem.state.in_(("offered", "assigned")))).all()
        for item in held:
            assert item.operator_id is not None
            pending = db.session.scalar(select(func.count()).select_from(Offer).where(
                Offer.work_item_id == item.id, Offer.state == "pending"))
            if item.state == "offered":
                assert pending == 1, item.id
                offer = db.session.scalar(select(Offer).where(Offer.work_item_id == item.id, Offer.state == "pending"))
                assert offer.operator_id == item.operator_id
            else:
                assert pending == 0, item.id
                assert db.session.get(Ticket, item.ticket_id).assignee_id == item.operator_id
        # One work item per ticket, at most one pending offer per item anywhere.
        doubles = db.session.execute(select(Offer.work_item_id, func.count()).where(Offer.state == "pending")
                                     .group_by(Offer.work_item_id).having(func.count() > 1)).all()
        assert doubles == []
