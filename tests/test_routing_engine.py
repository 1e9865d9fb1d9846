"""Routing against the database: tiers by rank, waiting and widening, capacity, offers
with time-outs and rejections, the policy API, queue figures (CONTRACT §3 Routing, §8)."""
from datetime import UTC, timedelta

import pytest
from sqlalchemy import func, select

from core.db import utcnow
from tests.conftest import BACKEND


@pytest.fixture
def team(app, make_user):
    """Three available operators, one per tier; returns {tier: user_id}."""
    from accounts.models import User
    from extensions import db
    from routing.presence import set_presence

    ids = {}
    for tier in (1, 2, 3):
        user_id, _ = make_user(f"tier{tier}", roles="operator", tier=tier)
        ids[tier] = user_id
    with app.app_context():
        for user_id in ids.values():
            set_presence(db.session.get(User, user_id), "available")
        db.session.commit()
    return ids


def customer_of_rank(app, rank: str, name: str = "顧客") -> int:
    from customers import service
    from extensions import db

    with app.app_context():
        customer = service.create({"name": name})
        customer.rank_override = rank
        db.session.commit()
        return customer.id


def new_ticket(client, customer_id: int, channel: str = "email", priority: str = "normal") -> int:
    response = client.post("/api/v1/tickets", json={"subject": "問い合わせ", "body": "本文", "channel": channel,
                                                    "priority": priority, "customer_id": customer_id})
    assert response.status_code == 201, response.get_json()
    return response.get_json()["id"]


def work(app, ticket_id: int):
    from extensions import db
    from routing.models import WorkItem

    with app.app_context():
        item = db.session.scalar(select(WorkItem).where(WorkItem.ticket_id == ticket_id))
        db.session.expunge(item)
        return item


def assignee(client, ticket_id: int):
    return client.get(f"/api/v1/tickets/{ticket_id}").get_json()["assignee_id"]


@pytest.fixture
def api(client, login):
    login(client, roles="supervisor", username="boss")
    return client


def test_platinum_goes_to_tier3_even_when_tier1_is_free(app, api, team, run_jobs):
    ticket = new_ticket(api, customer_of_rank(app, "platinum"))
    run_jobs()
    assert assignee(api, ticket) == team[3]
    assert work(app, ticket).state == "assigned"


def test_bronze_goes_to_tier1(app, api, team, run_jobs):
    ticket = new_ticket(api, customer_of_rank(app, "bronze"))
    run_jobs()
    assert assignee(api, ticket) == team[1]


def test_platinum_waits_while_seniors_are_full_then_widens(app, api, team, run_jobs):
    from accounts.models import User
    from extensions import db
    from routing import engine
    from routing.models import WorkItem
    from routing.presence import set_presence

    with app.app_context():
        set_presence(db.session.get(User, team[3]), "busy")
        db.session.commit()
    ticket = new_ticket(api, customer_of_rank(app, "platinum"), channel="email")
    run_jobs()
    assert work(app, ticket).state == "waiting"
    assert assignee(api, ticket) is None
    # Ten minutes later (the mail policy's first widening) tier 2 may take it.
    with app.app_context():
        item = db.session.scalar(select(WorkItem).where(WorkItem.ticket_id == ticket))
        item.waiting_since = utcnow() - timedelta(seconds=601)
        db.session.commit()
        engine.route_item(item.id)
        db.session.commit()
    assert assignee(api, ticket) == team[2]


def test_capacity_is_never_exceeded_and_freed_capacity_is_refilled(app, api, make_user, run_jobs):
    from accounts.models import User
    from extensions import db
    from routing.models import WorkItem
    from routing.presence import set_presence

    solo, _ = make_user("solo", roles="operator", tier=1)
    with app.app_context():
        set_presence(db.session.get(User, solo), "available")
        db.session.commit()
    customer = customer_of_rank(app, "bronze")
    tickets = [new_ticket(api, customer) for _ in range(4)]
    run_jobs()
    states = [work(app, t).state for t in tickets]
    assert states.count("assigned") == 3 and states.count("waiting") == 1  # email capacity 3
    first_assigned = tickets[states.index("assigned")]
    waiting = tickets[states.index("waiting")]
    response = api.patch(f"/api/v1/tickets/{first_assigned}", json={"status": "solved"},
                         headers={"If-Match": str(api.get(f"/api/v1/tickets/{first_assigned}").get_json()["version"])})
    assert response.status_code == 200, response.get_json()
    run_jobs()
    assert work(app, first_assigned).state == "done"
    assert work(app, waiting).state == "assigned" and assignee(api, waiting) == solo
    with app.app_context():
        held = db.session.scalar(select(func.count()).select_from(WorkItem).where(
            WorkItem.operator_id == solo, WorkItem.state.in_(("offered", "assigned"))))
        assert held == 3


def test_phone_offer_times_out_and_moves_to_the_next_operator(app, api, team, run_jobs):
    from extensions import db
    from routing import engine
    from routing.models import Offer

    ticket = new_ticket(api, customer_of_rank(app, "silver"), channel="phone")
    run_jobs()
    item = work(app, ticket)
    assert item.state == "offered" and item.operator_id == team[1]  # lowest tier first
    with app.app_context():
        offer = db.session.scalar(select(Offer).where(Offer.ticket_id == ticket))
        offer.expires_at = utcnow() - timedelta(seconds=1)
        db.session.commit()
        assert engine.expire_due_offers() == 1
        db.session.commit()
    item = work(app, ticket)
    assert item.state == "offered" and item.operator_id == team[2]
    with app.app_context():
        offers = db.session.scalars(select(Offer).where(Offer.ticket_id == ticket).order_by(Offer.id)).all()
        assert [o.state for o in offers] == ["expired", "pending"]


def test_reject_offers_to_next_and_not_back_to_the_rejecter(app, client, login, make_user, run_jobs):
    from accounts.models import User
    from extensions import db
    from routing.presence import set_presence

    me, _ = login(client, roles="operator", tier=1)
    other, _ = make_user("other1", roles="operator", tier=1)
    with app.app_context():
        for user_id in (me, other):
            set_presence(db.session.get(User, user_id), "available")
        db.session.commit()
        # make me the longest idle so I am offered first
        from routing.models import OperatorState

        db.session.get(OperatorState, me).idle_since = utcnow() - timedelta(hours=1)
        db.session.commit()
    ticket = new_ticket(client, customer_of_rank(app, "new"), channel="phone")
    run_jobs()
    offers = client.get("/api/v1/offers").get_json()["items"]
    assert len(offers) == 1 and offers[0]["ticket_id"] == ticket
    response = client.post(f"/api/v1/offers/{offers[0]['offer_id']}/reject")
    assert response.status_code == 200 and response.get_json()["state"] == "rejected"
    assert work(app, ticket).operator_id == other
    assert client.get("/api/v1/offers").get_json()["items"] == []
    # The other operator's offer is not mine to accept.
    from routing.models import Offer

    with app.app_context():
        theirs = db.session.scalar(select(Offer).where(Offer.state == "pending")).id
    assert client.post(f"/api/v1/offers/{theirs}/accept").status_code == 403


def test_accepting_an_offer_assigns_the_ticket(app, client, login, run_jobs):
    from accounts.models import User
    from extensions import db
    from routing.presence import set_presence

    me, _ = login(client, roles="operator", tier=3)
    with app.app_context():
        set_presence(db.session.get(User, me), "available")
        db.session.commit()
    ticket = new_ticket(client, customer_of_rank(app, "gold"), channel="phone")
    run_jobs()
    offer = client.get("/api/v1/offers").get_json()["items"][0]
    assert offer["customer"]["rank"] == "gold"
    accepted = client.post(f"/api/v1/offers/{offer['offer_id']}/accept")
    assert accepted.status_code == 200 and accepted.get_json()["state"] == "accepted"
    assert work(app, ticket).state == "assigned"
    assert assignee(client, ticket) == me
    from routing.models import RoutingEvent

    with app.app_context():  # both written (the service level counts the "assigned" ones)
        kinds = db.session.scalars(select(RoutingEvent.kind).where(RoutingEvent.ticket_id == ticket)
                                   .order_by(RoutingEvent.id)).all()
        assert kinds[-2:] == ["assigned", "accepted"], kinds
    again = client.post(f"/api/v1/offers/{offer['offer_id']}/reject")
    assert again.status_code == 409


def test_operator_becoming_available_gets_waiting_work(app, client, login, run_jobs):
    from accounts.models import User
    from extensions import db

    me, _ = login(client, roles="operator", tier=2)
    ticket = new_ticket(client, customer_of_rank(app, "gold"), channel="email")
    run_jobs()
    assert work(app, ticket).state == "waiting"
    assert client.put("/api/v1/operators/me/presence", json={"presence": "available"}).status_code == 200
    run_jobs()
    assert assignee(client, ticket) == me
    with app.app_context():
        assert db.session.get(User, me) is not None


def test_manual_assignment_moves_the_item(app, api, team, run_jobs):
    ticket = new_ticket(api, customer_of_rank(app, "bronze"))
    run_jobs()
    version = api.get(f"/api/v1/tickets/{ticket}").get_json()["version"]
    response = api.patch(f"/api/v1/tickets/{ticket}", json={"assignee_id": team[3], "version": version})
    assert response.status_code == 200, response.get_json()
    item = work(app, ticket)
    assert item.state == "assigned" and item.operator_id == team[3]


def test_policy_api_round_trip_and_stale_version(api):
    policy = api.get("/api/v1/routing/policy").get_json()
    assert policy["capacity"]["phone"] == 1 and policy["offer_timeout_s"] == 20
    assert policy["ranks"]["platinum"]["phone"][0] == {"min_tier": 3, "after_s": 0}
    policy["offer_timeout_s"] = 15
    saved = api.put("/api/v1/routing/policy", json=policy)
    assert saved.status_code == 200 and saved.get_json()["version"] == policy["version"] + 1
    stale = api.put("/api/v1/routing/policy", json=policy)
    assert stale.status_code == 409
    bad = api.put("/api/v1/routing/policy", json={**saved.get_json(), "capacity": {"phone": -1}})
    assert bad.status_code == 422 and "capacity.phone" in bad.get_json()["error"]["fields"]


@pytest.mark.parametrize("path", ["/api/v1/routing/policy", "/api/v1/queues", "/api/v1/operators"])
def test_supervisor_only_endpoints(client, login, path):
    login(client, roles="operator")
    assert client.get(path).status_code == 403


def test_queues_count_waiting_and_assigned_by_rank_and_channel(app, api, team, run_jobs):
    from accounts.models import User
    from extensions import db
    from routing.presence import set_presence

    with app.app_context():
        for user_id in team.values():
            set_presence(db.session.get(User, user_id), "away")
        db.session.commit()
    platinum = customer_of_rank(app, "platinum")
    new_ticket(api, platinum, channel="email")
    new_ticket(api, platinum, channel="email")
    run_jobs()
    body = api.get("/api/v1/queues").get_json()
    cell = next(c for c in body["items"] if c["rank"] == "platinum" and c["channel"] == "email")
    assert cell["waiting"] == 2 and cell["assigned"] == 0 and cell["oldest_wait_s"] >= 0
    assert body["totals"]["waiting"] == 2
    operators = api.get("/api/v1/operators").get_json()["items"]
    assert {o["username"] for o in operators} >= {"tier1", "tier2", "tier3"}
    assert all(set(o["load"]) == {"phone", "email", "web", "chat"} for o in operators)


def test_service_level_counts_the_last_hours_assignments_answered_within_the_target(app, api):
    """GET /queues ``service_level``: assignments of the last hour, the share waited at
    most 30 s.  Other kinds, older events and an event without a wait are not counted."""
    from datetime import timedelta

    from core.db import utcnow
    from extensions import db
    from routing.models import RoutingEvent

    now = utcnow()
    with app.app_context():
        for at, kind, detail in [(now, "assigned", {"wait_s": 3.2}), (now, "assigned", {"wait_s": 30}),
                                 (now, "assigned", {"wait_s": 30.5}), (now, "assigned", {"wait_s": 120}),
                                 (now, "offered", {"wait_s": 1}), (now, "assigned", {}),
                                 (now - timedelta(minutes=61), "assigned", {"wait_s": 1})]:
            db.session.add(RoutingEvent(at=at, kind=kind, detail=detail))
        db.session.commit()
    body = api.get("/api/v1/queues").get_json()
    assert body["service_level"] == {"answered": 4, "within_target": 2, "target_s": 30, "share": 0.5}
    with app.app_context():
        db.session.add(RoutingEvent(at=now, kind="assigned", detail={"wait_s": 1}))
        db.session.commit()
    # Recounted at most every 10 s (the once-a-second queue_stats push asks for it too).
    assert api.get("/api/v1/queues").get_json()["service_level"]["answered"] == 4
    app.extensions["tsunagu_redis"].delete(*app.extensions["tsunagu_redis"].keys("tsunagu:routing:service-level:*"))
    assert api.get("/api/v1/queues").get_json()["service_level"]["answered"] == 5


def test_fresh_items_share_one_drain_job_that_keeps_order_and_survives_an_error(app):
    """store.route_soon: a burst of new items enqueues one job; the drain routes them in
    arrival order, puts back what an error left, and a new item after the drain started
    kicks a new job (nothing waits for the 15-second sweep)."""
    from core.jobs import queue
    from routing import store

    def drain_jobs():
        return [job for job in queue("high").get_jobs() if job.func_name == "routing.jobs.route_fresh"]

    with app.app_context():
        for work_id in (11, 12, 13):
            store.route_soon(work_id)
        assert len(drain_jobs()) == 1
        seen = []

        def fail_with_12(work_ids):
            seen.append(work_ids)
            if 12 in work_ids:
                raise RuntimeError("database went away")

        first = drain_jobs()[0].id
        with pytest.raises(RuntimeError):
            store.FRESH_ITEMS.drain_batches(fail_with_12, 2, job_id=first)  # as that job
        assert seen == [[11, 12]]  # the failed batch went back whole, in order
        store.route_soon(14)  # the drain cleared its flag: a second job is due
        assert len(drain_jobs()) == 2
        store.drain_fresh(seen.append, 2)
        assert seen == [[11, 12], [11, 12], [13, 14]]


def test_escalations_wait_in_the_due_set_until_their_time(app):
    """schedule_route: later → the due set (read by the once-a-second sweep), each item
    taken once; at once → the fresh-items drain."""
    import time

    from core.redis_conn import get_redis
    from extensions import db
    from routing import store

    with app.app_context():
        store.schedule_route(7, 30, reason="escalation")
        store.schedule_route(8, 0, reason="returned")
        store.schedule_route(9, 40, reason="escalation")  # the same transaction: one ZADD
        assert get_redis().zcard(store.DUE_ITEMS) == 0  # nothing before the commit
        db.session.commit()
        assert store.take_due(time.time() + 1) == []
        assert store.take_due(time.time() + 31) == [7]
        assert store.take_due(time.time() + 41) == [9]
        assert store.take_due(time.time() + 31) == []
        seen = []
        store.drain_fresh(seen.extend, 10)
        assert seen == [8]


def test_an_item_needing_a_skill_goes_to_an_operator_who_has_it(app, api, make_user, run_jobs):
    """Items with required skills are ranked in Python (not by the one-statement choice):
    the best-placed operator without the skill is passed over."""
    from accounts.models import User
    from extensions import db
    from routing import engine
    from routing.models import OperatorState, WorkItem
    from routing.presence import set_presence

    plain, _ = make_user("plain1", roles="operator", tier=1)
    english, _ = make_user("english1", roles="operator", tier=1, skills=["en"])
    with app.app_context():
        for user_id in (plain, english):
            set_presence(db.session.get(User, user_id), "available")
        db.session.get(OperatorState, plain).idle_since = utcnow() - timedelta(hours=1)  # first in line
        set_presence(db.session.get(User, english), "busy")
        db.session.commit()
    ticket = new_ticket(api, customer_of_rank(app, "bronze"))
    with app.app_context():
        item = db.session.scalar(select(WorkItem).where(WorkItem.ticket_id == ticket))
        item.skills = ["en"]
        db.session.commit()
    run_jobs()
    assert work(app, ticket).state == "waiting"  # the only operator free lacks the skill
    with app.app_context():
        set_presence(db.session.get(User, english), "available")
        db.session.commit()
        engine.route(work(app, ticket).id)
        db.session.commit()
    assert assignee(api, ticket) == english


def test_editors_are_not_routed_work_and_routing_keeps_its_record(app, api, make_user, run_jobs):
    from accounts.models import User
    from extensions import db
    from routing.models import OperatorState, RoutingEvent
    from routing.presence import set_presence

    editor, _ = make_user("editor1", roles="editor", tier=1)
    operator, _ = make_user("operator1", roles="operator", tier=1)
    with app.app_context():
        for user_id in (editor, operator):
            set_presence(db.session.get(User, user_id), "available")
        db.session.get(OperatorState, editor).idle_since = utcnow() - timedelta(hours=1)  # first in line
        db.session.commit()
    ticket = new_ticket(api, customer_of_rank(app, "bronze"))
    run_jobs()
    assert assignee(api, ticket) == operator
    with app.app_context():
        events = db.session.scalars(select(RoutingEvent).where(RoutingEvent.ticket_id == ticket)
                                    .order_by(RoutingEvent.id)).all()
        assert [(e.kind, e.operator_id) for e in events] == [("queued", None), ("assigned", operator)]
        assert events[0].detail == {"rank": "bronze", "channel": "email"}
        assert events[0].work_item_id == events[1].work_item_id == work(app, ticket).id
        assert events[1].detail["wait_s"] >= 0
        state = db.session.get(OperatorState, operator)
        assert (state.load_email, state.load_total) == (1, 1)


def test_a_queue_rolled_back_leaves_no_item_behind(app):
    """queue_ticket writes its item with Core and hands the session a copy; a rollback
    forgets that copy, so a new ticket after it (SQLite may reuse the id) works."""
    from customers import service as customers
    from extensions import db
    from routing import engine
    from routing.models import WorkItem
    from tickets import service as tickets

    with app.app_context():
        customer = customers.create({"name": "顧客"})
        db.session.commit()
        # A caller still holds the item's copy (not the ticket's: that is tickets' concern).
        held = engine.queued_in_this_transaction(
            tickets.open_ticket(customer, subject="rolled back", channel="email").id)
        db.session.rollback()
        ticket = tickets.open_ticket(customer, subject="kept", channel="email")
        queued = engine.queued_in_this_transaction(ticket.id)
        assert queued is not None and queued.state == "waiting"
        db.session.commit()
        items = db.session.scalars(select(WorkItem)).all()
        assert [(item.ticket_id, item.state) for item in items] == [(ticket.id, "waiting")]
        assert held not in db.session


def test_routed_ticket_is_on_the_timeline_once_with_who_took_it(app, api, team, run_jobs):
    """assign_from_routing (one statement on PostgreSQL, three elsewhere): the ticket's new
    holder and version, one timeline item naming them, nothing more when repeated."""
    from accounts.models import User
    from core.errors import NotFound
    from customers.models import Interaction
    from extensions import db
    from tickets.models import Ticket
    from tickets.service import assign_from_routing

    customer = customer_of_rank(app, "bronze")
    ticket_id = new_ticket(api, customer)
    run_jobs()
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket.assignee_id == team[1]
        user = db.session.get(User, team[1])
        items = db.session.scalars(select(Interaction).where(Interaction.ticket_id == ticket_id,
                                                             Interaction.kind == "assignment")).all()
        assert len(items) == 1
        item = items[0]
        assert item.customer_id == customer and item.channel == "email"
        assert item.summary == f"#{ticket_id} → {user.name or user.username}"
        assert item.ref == f"ticket:{ticket_id}:v{ticket.version - 1}:assign"
        assert item.detail == {"from": None, "to": team[1], "by": "routing"}
        version = ticket.version

        assign_from_routing(ticket_id, team[1])  # the holder already: nothing changes
        db.session.commit()
        db.session.expire_all()
        assert db.session.get(Ticket, ticket_id).version == version
        assert db.session.scalar(select(func.count()).select_from(Interaction).where(
            Interaction.ticket_id == ticket_id, Interaction.kind == "assignment")) == 1

        assign_from_routing(ticket_id, team[2])  # moved on: the item says from whom
        db.session.commit()
        moved = db.session.scalar(select(Interaction).where(Interaction.ticket_id == ticket_id,
                                                            Interaction.kind == "assignment")
                                  .order_by(Interaction.id.desc()))
        assert moved.detail == {"from": team[1], "to": team[2], "by": "routing"}
        assert moved.ref == f"ticket:{ticket_id}:v{version}:assign"
        with pytest.raises(NotFound):
            assign_from_routing(999_999, team[1])
        db.session.rollback()


def test_a_batch_of_items_is_routed_in_one_transaction(app, api, team):
    """route_many (the drain job's step): each waiting item once, repeats and unknown ids
    answered without harm, one routing event per assignment, nothing before the commit."""
    from extensions import db
    from routing import engine
    from routing.models import RoutingEvent

    customer = customer_of_rank(app, "bronze")
    tickets = [new_ticket(api, customer) for _ in range(3)]  # not routed yet: no jobs run
    ids = [work(app, ticket).id for ticket in tickets]
    with app.app_context():
        states = engine.route_many([ids[0], ids[1], ids[0], 999_999, ids[2]])
        assert states == {ids[0]: "assigned", ids[1]: "assigned", 999_999: None, ids[2]: "assigned"}
        db.session.rollback()  # nothing was kept
        assert all(work(app, ticket).state == "waiting" for ticket in tickets)
        states = engine.route_many(ids)
        db.session.commit()
        assert set(states.values()) == {"assigned"}
        events = db.session.scalars(select(RoutingEvent.work_item_id).where(RoutingEvent.kind == "assigned")).all()
        assert sorted(events) == sorted(ids)
    assert {assignee(api, ticket) for ticket in tickets} <= set(team.values())


def test_freed_operators_are_offered_distinct_items_in_one_transaction(app, api, make_user):
    """offer_next_many (the freed-operators drain's step): the waiting phone calls are read
    once for the batch; each freed operator gets the next call nobody in the batch took, in
    service order (urgent first); a repeated operator is offered once; an operator who is
    not available gets nothing; nothing is kept before the commit."""
    from accounts.models import User
    from extensions import db
    from routing import engine
    from routing.models import Offer
    from routing.presence import set_presence

    customer = customer_of_rank(app, "bronze")
    calls = [new_ticket(api, customer, channel="phone", priority=p) for p in ("normal", "urgent", "normal")]
    ids = {work(app, ticket).id: ticket for ticket in calls}
    operators = [make_user(f"freed{n}", roles="operator", tier=1)[0] for n in range(3)]
    away, _ = make_user("away-op", roles="operator", tier=1)
    with app.app_context():
        for operator in operators:
            set_presence(db.session.get(User, operator), "available")
        set_presence(db.session.get(User, away), "away")
        db.session.commit()
        batch = [operators[0], operators[1], operators[0], away, operators[2]]
        offered = engine.offer_next_many(batch)
        assert list(offered) == [operators[0], operators[1], away, operators[2]]
        assert offered[away] is None
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(Offer)) == 0
        offered = engine.offer_next_many(batch)
        db.session.commit()
    placed = [offered[o] for o in operators]
    assert sorted(placed) == sorted(ids)  # three calls, three operators, no call twice
    assert ids[placed[0]] == calls[1]  # the urgent call first
    with app.app_context():
        offers = db.session.scalars(select(Offer).order_by(Offer.id)).all()
        assert [(o.operator_id, o.work_item_id) for o in offers] == list(zip(operators, placed, strict=True))
        assert engine.offer_next_many(operators) == {o: None for o in operators}  # full (phone capacity 1)


def test_the_waiting_safety_net_routes_in_batches_in_service_order(app, api, make_user):
    """route_waiting (every 15 s): the waiting items, urgent first, go through the batch
    router; with two operators free for seven emails (capacity 3 each), six are placed and
    the last in service order waits."""
    from accounts.models import User
    from extensions import db
    from routing import jobs
    from routing.models import OperatorState

    customer = customer_of_rank(app, "bronze")
    tickets = [new_ticket(api, customer, priority="urgent" if n == 6 else "normal") for n in range(7)]
    operators = [make_user(f"net{n}", roles="operator", tier=1)[0] for n in range(2)]
    with app.app_context():
        for operator in operators:  # available without the freed-operator drain a presence change starts
            db.session.add(OperatorState(user_id=operator, presence="available", presence_since=utcnow(),
                                         idle_since=utcnow()))
        db.session.commit()
        assert jobs.route_waiting() == 6
    states = {ticket: work(app, ticket).state for ticket in tickets}
    assert states[tickets[6]] == "assigned"  # the urgent one, though created last
    assert [t for t, state in states.items() if state == "waiting"] == [tickets[5]]
    assert {assignee(api, t) for t in tickets if t != tickets[5]} == set(operators)
    with app.app_context():
        assert {db.session.get(OperatorState, o).load_email for o in operators} == {3}
        assert db.session.get(User, operators[0]).active


def test_operator_figures_list_who_takes_work_field_for_field(app, make_user):
    """stats.operators (built by PostgreSQL as one JSON document there, in Python
    elsewhere): roles that include operator, names, skills, presence and its time as
    isoformat writes it (with and without a fraction), loads and capacity."""
    from datetime import datetime

    from accounts.models import User
    from extensions import db
    from routing import stats
    from routing.models import OperatorState
    from routing.presence import set_presence

    sato, _ = make_user("sato", roles="operator", tier=3, name="佐藤", skills=["ja", "en"])
    boss, _ = make_user("boss", roles="supervisor", tier=2, name="")
    root, _ = make_user("root", roles="admin,editor", tier=1)
    make_user("writer", roles="editor")
    gone, _ = make_user("gone", roles="operator")
    with app.app_context():
        db.session.get(User, gone).active = False
        set_presence(db.session.get(User, sato), "available")
        set_presence(db.session.get(User, boss), "away")
        db.session.flush()
        db.session.get(OperatorState, sato).presence_since = datetime(2026, 11, 22, 9, 30, 5, 120, tzinfo=UTC)
        db.session.get(OperatorState, sato).load_email = 2
        db.session.get(OperatorState, boss).presence_since = datetime(2026, 11, 22, 10, 0, tzinfo=UTC)
        db.session.commit()
        capacity = dict(stats.policy_in_force()["capacity"])
        listed = stats.operators()
        assert [o["username"] for o in listed] == ["sato", "boss", "root"]
        assert listed[0] == {"id": sato, "username": "sato", "name": "佐藤", "tier": 3, "skills": ["en", "ja"],
                             "extension": None, "presence": "available",
                             "presence_since": "2026-11-22T09:30:05.000120+00:00",
                             "load": {"phone": 0, "email": 2, "web": 0, "chat": 0}, "capacity": capacity}
        assert listed[1]["name"] == "boss" and listed[1]["presence"] == "away"
        assert listed[1]["presence_since"] == "2026-11-22T10:00:00+00:00"
        assert listed[2]["presence"] == "offline" and listed[2]["load"] == {"phone": 0, "email": 0, "web": 0, "chat": 0}
        assert listed == stats.operators_built_here(capacity)  # both ways agree
        assert listed[2]["presence_since"] is None


def test_a_preferred_tier_order_falls_through_tier_by_tier_in_one_choice(app, api, team, run_jobs):
    """``prefer``: the best operator of the first tier in the step's order who has room,
    else of the next one (one statement walks the tiers in order): lowest first for
    bronze, highest first when the policy says so."""
    from accounts.models import User
    from extensions import db
    from routing.presence import set_presence

    def busy(*tiers):
        with app.app_context():
            for tier in (1, 2, 3):
                set_presence(db.session.get(User, team[tier]), "busy" if tier in tiers else "available")
            db.session.commit()
        run_jobs()  # before the next ticket: an operator freed now would take it, whatever the order

    bronze = customer_of_rank(app, "bronze")
    busy(1)
    ticket = new_ticket(api, bronze)
    run_jobs()
    assert assignee(api, ticket) == team[2]  # tier 1 busy: the next tier up, not the top
    busy(1, 2)
    ticket = new_ticket(api, bronze)
    run_jobs()
    assert assignee(api, ticket) == team[3]

    policy = api.get("/api/v1/routing/policy").get_json()
    policy["ranks"]["bronze"]["email"] = [{"min_tier": 1, "after_s": 0, "prefer": "highest"}]
    assert api.put("/api/v1/routing/policy", json=policy).status_code == 200
    busy()
    ticket = new_ticket(api, bronze)
    run_jobs()
    assert assignee(api, ticket) == team[3]
    busy(3)
    ticket = new_ticket(api, bronze)
    run_jobs()
    assert assignee(api, ticket) == team[2]  # tier 3 busy: the next tier down


def test_a_fresh_item_does_not_overtake_an_older_one_for_the_operator_it_would_get(app, api, make_user):
    """A fresh item (as the CTI webhook routes a new call) while an older one of its channel
    still waits: the free operator gets the older one, and the new one waits its turn."""
    from accounts.models import User
    from extensions import db
    from routing import engine, store
    from routing.presence import set_presence

    with app.app_context():
        policy = store.current_policy()
        store.save_policy({**policy, "capacity": {**policy["capacity"], "email": 1}}, policy["version"], None)
        db.session.commit()
    operator_id, _ = make_user("solo", roles="operator", tier=1)
    with app.app_context():
        set_presence(db.session.get(User, operator_id), "available")
        db.session.commit()
    customer = customer_of_rank(app, "bronze")
    older, newer = new_ticket(api, customer), new_ticket(api, customer)  # neither routed yet
    with app.app_context():
        assert engine.route(work(app, newer).id, fresh=True) == "waiting"
        db.session.commit()
    assert assignee(api, older) == operator_id
    assert work(app, newer).state == "waiting"


@pytest.mark.skipif(BACKEND != "postgresql", reason="a row lock held by another connection: SQLite has one writer")
def test_a_claim_skips_an_item_another_transaction_holds_instead_of_waiting(app, api, team):
    """Routers claim several items per transaction; one waiting for an item another holds,
    while holding an operator, is half of a deadlock.  The claim passes the item by."""
    import psycopg
    from sqlalchemy import text

    from extensions import db
    from routing import engine, store
    from routing.models import OperatorState

    ticket = new_ticket(api, customer_of_rank(app, "bronze"))  # not routed yet
    item_id = work(app, ticket).id
    with app.app_context():
        url = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    holder = psycopg.connect(url)
    try:
        holder.execute("SELECT id FROM work_items WHERE id = %s FOR UPDATE", (item_id,))
        with app.app_context():
            db.session.execute(text("SET LOCAL lock_timeout = '5s'"))  # waiting would fail here
            claimed = engine.try_claim(engine.waiting_item(item_id), team[1], store.policy_in_force())
            db.session.commit()
            assert claimed == engine.ITEM_TAKEN
            assert db.session.get(OperatorState, team[1]).load_email == 0  # the unit was given back
    finally:
        holder.rollback()
        holder.close()
    assert work(app, ticket).state == "waiting"


def test_finishing_an_item_frees_a_unit_and_the_last_one_makes_the_holder_idle_again(app, client, login, run_jobs):
    """Load counters go down by one per finished item; ``idle_since`` (longest idle first)
    restarts only when the holder's last item on that channel is finished."""
    from accounts.models import User
    from extensions import db
    from routing import engine
    from routing.models import OperatorState
    from routing.presence import set_presence

    me, _ = login(client, roles="operator", tier=3)
    with app.app_context():
        set_presence(db.session.get(User, me), "available")
        db.session.commit()
    tickets = [new_ticket(client, customer_of_rank(app, "gold", f"顧客{i}")) for i in range(2)]
    run_jobs()
    assert {work(app, t).operator_id for t in tickets} == {me}
    long_ago = utcnow() - timedelta(hours=2)

    def state():
        with app.app_context():
            row = db.session.get(OperatorState, me)
            return row.load_email, row.load_total, row.idle_since

    with app.app_context():
        db.session.get(OperatorState, me).idle_since = long_ago
        db.session.commit()
        engine.finish_item(tickets[0])
        db.session.commit()
    assert state() == (1, 1, long_ago)  # one email still held: not idle again yet
    with app.app_context():
        engine.finish_item(tickets[0])  # finished already: nothing moves
        engine.finish_item(tickets[1])
        db.session.commit()
    load_email, load_total, idle_since = state()
    assert (load_email, load_total) == (0, 0) and idle_since > long_ago + timedelta(hours=1)
