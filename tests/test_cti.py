"""The CTI webhook and the caller log (CONTRACT §3 Telephony, §8 CTI calls and offers)."""
from datetime import timedelta

import pytest
from sqlalchemy import func, select


@pytest.fixture
def cti(app):
    """``cti(event=…, …)`` posts a form-encoded PBX event; returns the response."""
    from accounts.service import create_token
    from extensions import db

    with app.app_context():
        _, raw = create_token("pbx", "cti")
        db.session.commit()
    client = app.test_client()

    def _post(as_json=False, token=None, **data):
        url = f"/api/v1/cti/{token or raw}"
        return client.post(url, json=data) if as_json else client.post(url, data=data)

    return _post


@pytest.fixture
def senior(app, make_user):
    from accounts.models import User
    from extensions import db
    from routing.presence import set_presence

    user_id, _ = make_user("senior", roles="operator", tier=3, extension="201", name="上級 一郎")
    junior_id, _ = make_user("junior", roles="operator", tier=1, extension="203")
    with app.app_context():
        set_presence(db.session.get(User, user_id), "available")
        set_presence(db.session.get(User, junior_id), "available")
        db.session.commit()
    return user_id


def platinum_customer(app, phone="03-1234-5678", name="山田 花子") -> int:
    from customers import service
    from extensions import db

    with app.app_context():
        customer = service.create({"name": name, "name_kana": "ヤマダ ハナコ", "phones": [phone]})
        customer.rank_override = "platinum"
        db.session.commit()
        return customer.id


def tickets_of(app, customer_id):
    from extensions import db
    from tickets.models import Ticket

    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(Ticket).where(Ticket.customer_id == customer_id))


def call_row(app, call_id):
    from console.models import Call
    from extensions import db

    with app.app_context():
        call = db.session.scalar(select(Call).where(Call.call_id == call_id))
        db.session.expunge(call)
        return call


def test_known_platinum_caller_is_dialled_to_the_senior_and_repeats_are_idempotent(app, cti, senior):
    customer = platinum_customer(app)
    first = cti(event="newCall", **{"from": "0312345678"}, to="0501111", direction="in", callId="c-1")
    assert first.status_code == 200
    assert first.get_json() == {"action": "dial", "user": "senior", "extension": "201"}
    again = cti(event="newCall", **{"from": "0312345678"}, to="0501111", direction="in", callId="c-1")
    assert again.get_json() == first.get_json()
    assert tickets_of(app, customer) == 1


@pytest.mark.parametrize("number", ["81312345678", "+81312345678", "0312345678", "010-81-3-1234-5678", "0081312345678"])
def test_every_pbx_number_format_identifies_the_customer(app, cti, senior, number):
    customer = platinum_customer(app)
    cti(event="newCall", **{"from": number}, to="100", direction="in", callId=f"fmt-{number}")
    assert call_row(app, f"fmt-{number}").customer_id == customer


def test_unknown_and_anonymous_callers_get_a_ticket_and_null_customer_in_the_pop(app, cti, senior):
    from console import pop
    from console.models import Call
    from extensions import db

    unknown = cti(event="newCall", **{"from": "090-5555-1234"}, to="100", direction="in", callId="u-1")
    anonymous = cti(event="newCall", **{"from": "anonymous"}, to="100", direction="in", callId="a-1")
    assert unknown.get_json()["action"] in ("dial", "queue")
    assert anonymous.get_json()["action"] in ("dial", "queue")
    with app.app_context():
        for call_id, caller in (("u-1", "+819055551234"), ("a-1", "anonymous")):
            call = db.session.scalar(select(Call).where(Call.call_id == call_id))
            body = pop.payload(call)
            assert body["customer"] is None and body["caller"] == caller
            assert body["ticket_id"] and body["placeholder_customer_id"]


def test_blocked_number_is_rejected(app, cti, client, login, senior):
    login(client, roles="admin")
    assert client.post("/api/v1/blocked-numbers", json={"number": "０３−９９９９−８８８８"}).status_code == 201
    response = cti(event="newCall", **{"from": "+81399998888"}, to="100", direction="in", callId="b-1")
    assert response.get_json() == {"action": "reject", "reason": "busy"}
    again = cti(event="newCall", **{"from": "+81399998888"}, to="100", direction="in", callId="b-1")
    assert again.get_json() == {"action": "reject", "reason": "busy"}
    # Another number on the same first read is not blocked; an outbound call to a blocked
    # number is not the caller's: recorded, not rejected.
    assert cti(event="newCall", **{"from": "+81399998887"}, to="100", direction="in",
               callId="b-2").get_json()["action"] in ("dial", "queue")
    assert cti(event="newCall", **{"from": "201"}, to="+81399998888", direction="out", callId="b-3").get_json() == {}
    assert client.post("/api/v1/blocked-numbers", json={"number": "not a number"}).status_code == 422


def test_bad_requests(app, cti):
    assert cti(token="wrong", event="newCall", callId="x").status_code == 401
    bad_direction = cti(event="newCall", callId="x", direction="sideways", **{"from": "0312345678"})
    assert bad_direction.status_code == 422 and "direction" in bad_direction.get_json()["error"]["fields"]
    assert cti(event="newCall", **{"from": "0312345678"}).status_code == 422  # no callId
    assert cti(event="ringing", callId="x").status_code == 422
    assert cti(event="hangup", callId="never-seen", cause="cancel").get_json() == {}
    assert cti(event="answer", callId="never-seen", user="senior").get_json() == {}


def test_answer_by_extension_then_hangup_lands_on_timeline_and_wrap_up(app, cti, senior, client, login):
    customer = platinum_customer(app)
    cti(event="newCall", **{"from": "+81312345678"}, to="100", direction="in", callId="t-1")
    assert cti(event="answer", callId="t-1", user="201", **{"from": "+81312345678"}, direction="in").get_json() == {}
    call = call_row(app, "t-1")
    assert call.state == "answer" and call.operator_id == senior
    assert cti(event="hangup", callId="t-1", cause="normalClearing", direction="in").get_json() == {}
    assert cti(event="hangup", callId="t-1", cause="normalClearing").get_json() == {}  # repeated
    assert cti(event="answer", callId="t-1", user="junior").get_json() == {}  # after hangup: ignored
    call = call_row(app, "t-1")
    assert call.state == "hangup" and not call.missed and call.operator_id == senior
    login(client, roles="supervisor")
    items = client.get(f"/api/v1/customers/{customer}/timeline").get_json()["items"]
    calls = [i for i in items if i["kind"] == "call"]
    assert len(calls) == 1 and calls[0]["operator_id"] == senior and calls[0]["channel"] == "phone"
    ops = {o["username"]: o for o in client.get("/api/v1/operators").get_json()["items"]}
    assert ops["senior"]["presence"] == "wrap_up"
    assert ops["senior"]["load"]["phone"] == 0
    from core.db import utcnow
    from extensions import db
    from routing.models import OperatorState

    with app.app_context():  # the policy's default wrap-up, 30 s from the hang-up
        until = db.session.get(OperatorState, senior).wrap_up_until
        assert timedelta(seconds=25) < until - utcnow() <= timedelta(seconds=30)


def test_missed_call_stays_open_until_marked_done(app, cti, senior, client, login):
    platinum_customer(app)
    cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="m-1")
    cti(event="hangup", callId="m-1", cause="cancel")
    cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="m-2")
    cti(event="answer", callId="m-2", user="voicemail")
    cti(event="hangup", callId="m-2", cause="normalClearing")
    login(client, roles="operator")
    missed = client.get("/api/v1/calls?missed=true").get_json()
    assert [c["call_id"] for c in missed["items"]] == ["m-2", "m-1"]
    assert all(c["missed"] and not c["done"] for c in missed["items"])
    assert missed["missed_open"] == 2
    first = missed["items"][1]
    assert first["state"] == "hangup" and first["cause"] == "cancel" and first["talking_s"] is None
    done = client.patch(f"/api/v1/calls/{first['id']}", json={"done": True})
    assert done.status_code == 200 and done.get_json()["done"] is True
    assert client.get("/api/v1/calls?missed=true").get_json()["missed_open"] == 1
    assert client.patch("/api/v1/calls/99999", json={"done": True}).status_code == 404


def test_queue_then_offered_when_an_operator_frees_up(app, cti, make_user, client, login, run_jobs):
    platinum_customer(app)
    answer = cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="q-1")
    assert answer.get_json() == {"action": "queue"}
    listed = {c["call_id"]: c for c in (login(client, roles="operator", tier=3, extension="209") and
                                        client.get("/api/v1/calls").get_json()["items"])}
    assert listed["q-1"]["state"] == "newCall"
    client.put("/api/v1/operators/me/presence", json={"presence": "available"})
    run_jobs()
    again = cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="q-1")
    assert again.get_json()["action"] == "dial" and again.get_json()["extension"] == "209"


def test_json_body_and_user_list_forms(app, cti, senior):
    platinum_customer(app)
    response = cti(as_json=True, event="newCall", **{"from": "0312345678"}, to="100", direction="in", call_id="j-1")
    assert response.get_json()["action"] == "dial"
    assert cti(as_json=True, event="answer", call_id="j-1", user=["nobody", "senior"]).status_code == 200
    assert call_row(app, "j-1").operator_id == senior


def test_outbound_call_is_recorded(app, cti, senior, client, login):
    customer = platinum_customer(app)
    assert cti(event="newCall", **{"from": "201"}, to="03-1234-5678", direction="out", callId="o-1", user="senior").get_json() == {}
    cti(event="answer", callId="o-1", user="senior")
    cti(event="hangup", callId="o-1", cause="normalClearing")
    call = call_row(app, "o-1")
    assert call.direction == "out" and call.customer_id == customer and not call.missed
    login(client, roles="operator")
    kinds = [(i["kind"], i["direction"]) for i in client.get(f"/api/v1/customers/{customer}/timeline").get_json()["items"]]
    assert ("call", "out") in kinds


def test_caller_log_needs_an_operator(client, login):
    assert client.get("/api/v1/calls").status_code == 401
    login(client, roles="editor")
    assert client.get("/api/v1/calls").status_code == 403


def test_linking_an_unknown_caller_to_an_existing_customer_moves_the_call(app, cti, senior, client, login):
    from console.models import Call
    from extensions import db

    known = platinum_customer(app, phone="03-7777-0000", name="既存 顧客")
    cti(event="newCall", **{"from": "090-1212-3434"}, to="100", direction="in", callId="link-1")
    placeholder = call_row(app, "link-1").customer_id
    assert placeholder != known
    login(client, roles="operator")
    merged = client.post(f"/api/v1/customers/{known}/merge", json={"duplicate_id": placeholder})
    assert merged.status_code == 200, merged.get_json()
    with app.app_context():
        call = db.session.scalar(select(Call).where(Call.call_id == "link-1"))
        assert call.customer_id == known
    assert client.get(f"/api/v1/customers/{placeholder}").status_code == 404
    found = client.get("/api/v1/customers/lookup", query_string={"phone": "09012123434"}).get_json()
    assert found["id"] == known


def test_ticket_suggestions_come_from_the_knowledge_base(app, client, login):
    from knowledge import demo as kb_demo

    with app.app_context():
        from extensions import db

        kb_demo.seed(0)
        db.session.commit()
    login(client, roles="operator")
    customer = client.post("/api/v1/customers", json={"name": "返品 希望"}).get_json()["id"]
    ticket = client.post("/api/v1/tickets", json={"subject": "返品したい", "body": "サイズが合わないので返品の方法を教えてください",
                                                  "channel": "email", "customer_id": customer}).get_json()["id"]
    items = client.get(f"/api/v1/tickets/{ticket}/suggestions").get_json()["items"]
    assert items and "返品" in items[0]["title"]
    assert client.get("/api/v1/tickets/999999/suggestions").status_code == 404


def test_the_same_newcall_twice_at_once_makes_one_call_and_one_ticket(app, cti, senior):
    import threading

    customer = platinum_customer(app)
    answers = []

    def post():
        answers.append(cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="dup-1"))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert {a.status_code for a in answers} == {200}
    assert len({str(a.get_json()) for a in answers}) == 1
    assert tickets_of(app, customer) == 1


def test_answer_after_the_console_accepted_pops_nothing_again(app, cti, senior, client):
    """The operator accepts the ringing offer in the console, then the PBX reports the
    answer: the call is theirs already, so no second pop (and no second audited read)."""
    from core.audit import AuditEntry
    from extensions import db
    from routing.models import Offer, WorkItem
    from tests.conftest import PASSWORD

    platinum_customer(app)
    assert cti(event="newCall", **{"from": "03-1234-5678"}, to="100", direction="in", callId="t-acc").get_json() \
        == {"action": "dial", "user": "senior", "extension": "201"}
    answer = client.post("/api/v1/auth/login", json={"username": "senior", "password": PASSWORD})
    client.csrf_token = answer.get_json()["csrf_token"]
    with app.app_context():
        offer_id = db.session.scalar(select(Offer.id).where(Offer.state == "pending"))
    assert client.post(f"/api/v1/offers/{offer_id}/accept").status_code == 200
    assert cti(event="answer", callId="t-acc", user="senior").get_json() == {}
    with app.app_context():
        pops = db.session.scalar(select(func.count()).select_from(AuditEntry)
                                 .where(AuditEntry.action == "customer.screen_pop"))
        work = db.session.scalar(select(WorkItem))
    assert pops == 1
    assert (work.state, work.operator_id) == ("assigned", senior)
    assert call_row(app, "t-acc").state == "answer"


def test_the_pop_of_a_known_caller_is_published_first_with_their_story(app, cti, senior, published):
    """Profile, last purchase, the ten newest timeline items, open tickets (this call's
    included), the last contact before this call; published before the offer."""
    from datetime import timedelta

    from core.db import utcnow
    from customers import timeline
    from customers.models import Purchase
    from extensions import db

    customer = platinum_customer(app)
    now = utcnow()
    with app.app_context():
        db.session.add(Purchase(customer_id=customer, product="緑茶セット", quantity=1, amount=3200,
                                purchased_at=now - timedelta(days=3)))
        for day in range(12):
            timeline.record(customer, "email", channel="email", direction="in", summary=f"メール {day}",
                            occurred_at=now - timedelta(days=20 - day))
        db.session.commit()
    assert cti(event="newCall", **{"from": "03-1234-5678"}, to="100", direction="in", callId="story-1") \
        .get_json()["action"] == "dial"
    events = [event for event, _ in published()]
    assert events.index("screen_pop") < events.index("offer")
    pop = next(data for event, data in published(wait=0) if event == "screen_pop")
    ticket_id = call_row(app, "story-1").ticket_id
    assert pop["call_id"] == "story-1" and pop["ticket_id"] == ticket_id and pop["caller"] == "+81312345678"
    profile = pop["customer"]
    assert (profile["id"], profile["name"], profile["rank"]) == (customer, "山田 花子", "platinum")
    assert profile["phones"] == ["+81312345678"] and profile["phones_display"] == ["03-1234-5678"]
    assert profile["last_purchase"]["product"] == "緑茶セット" and profile["last_purchase"]["amount"] == 3200
    recent = pop["recent_interactions"]
    assert len(recent) == 10 and recent[0]["ticket_id"] == ticket_id  # this call's ticket is the newest
    assert [item["occurred_at"] for item in recent] == sorted((item["occurred_at"] for item in recent), reverse=True)
    assert pop["last_contact"]["summary"] == "メール 11"  # the newest contact before this call
    assert [t["id"] for t in pop["open_tickets"]] == [ticket_id]
    assert pop["suggested_articles"] == [] and pop["call_count"] == 0
    offer = next(data for event, data in published(wait=0) if event == "offer")
    assert offer["ticket_id"] == ticket_id and offer["channel"] == "phone" and offer["state"] == "pending"
    assert offer["customer"] == {"id": customer, "name": "山田 花子", "rank": "platinum"}


def test_a_pop_waits_for_the_commit_and_a_rollback_drops_it(app, published):
    """``push_first`` publishes at the outermost commit, before ``push``'s, never at a
    savepoint's release, and nothing after a rollback."""
    from core.realtime import push, push_first
    from extensions import db

    with app.app_context():
        push("later", {"n": 1}, "room")
        push_first("first", {"n": 2}, "room")
        assert published(wait=0.2) == []
        db.session.commit()
        assert [event for event, _ in published()] == ["first", "later"]
        push_first("after the savepoint", {"n": 3}, "room")
        with db.session.begin_nested():
            pass
        assert len(published(wait=0.2)) == 2
        db.session.commit()
        push_first("dropped", {"n": 4}, "room")
        db.session.rollback()
    assert [event for event, _ in published()] == ["first", "later", "after the savepoint"]


def phone_ticket(app, call_id):
    from extensions import db
    from tickets.models import Ticket

    with app.app_context():
        ticket = db.session.get(Ticket, call_row(app, call_id).ticket_id)
        db.session.expunge(ticket)
        return ticket


def test_a_call_answered_by_a_person_is_the_tickets_first_response(app, cti, senior, client):
    """The talk answers the customer: the phone ticket opens and its first-response clock
    stops when the operator picks up, whether the console accepted the offer first or
    the PBX's answer accepts it; a repeated answer changes nothing more."""
    from extensions import db
    from routing.models import Offer
    from tests.conftest import PASSWORD

    platinum_customer(app)
    cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="fr-1")
    ringing = phone_ticket(app, "fr-1")
    assert (ringing.status, ringing.first_responded_at) == ("new", None)
    cti(event="answer", callId="fr-1", user="201")
    answered = phone_ticket(app, "fr-1")
    assert answered.status == "open" and answered.assignee_id == senior
    assert answered.first_responded_at == call_row(app, "fr-1").start_at
    assert answered.version > ringing.version and not answered.first_response_breached
    cti(event="answer", callId="fr-1", user="201")
    assert phone_ticket(app, "fr-1").version == answered.version
    from customers.models import Interaction

    with app.app_context():  # the reopening is on the timeline once, under the version it changed from
        items = db.session.scalars(select(Interaction).where(Interaction.ticket_id == answered.id,
                                                             Interaction.kind == "status")).all()
        assert [(i.detail["from"], i.detail["to"], i.ref) for i in items] == \
            [("new", "open", f"ticket:{answered.id}:v{answered.version - 1}:status")]
    cti(event="hangup", callId="fr-1", cause="normalClearing")
    assert (phone_ticket(app, "fr-1").status, phone_ticket(app, "fr-1").assignee_id) == ("open", senior)

    # The same customer's next call reuses the open ticket; the console accepts first.
    from accounts.models import User
    from routing.presence import set_presence

    with app.app_context():
        set_presence(db.session.get(User, senior), "available")  # wrap-up over
        db.session.commit()
    cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="fr-2")
    assert call_row(app, "fr-2").ticket_id == answered.id
    login = client.post("/api/v1/auth/login", json={"username": "senior", "password": PASSWORD})
    client.csrf_token = login.get_json()["csrf_token"]
    with app.app_context():
        offer_id = db.session.scalar(select(Offer.id).where(Offer.state == "pending"))
    assert client.post(f"/api/v1/offers/{offer_id}/accept").status_code == 200
    before = phone_ticket(app, "fr-2")
    cti(event="answer", callId="fr-2", user="senior")
    after = phone_ticket(app, "fr-2")
    assert after.status == "open" and after.first_responded_at == answered.first_responded_at
    assert after.version == before.version  # nothing new to record


def test_a_pending_phone_ticket_opens_when_the_customer_calls_and_voicemail_answers_nothing(app, cti, senior):
    from extensions import db
    from tickets import service
    from tickets.models import Ticket

    platinum_customer(app)
    cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="vm-1")
    cti(event="answer", callId="vm-1", user="voicemail")
    cti(event="hangup", callId="vm-1", cause="normalClearing")
    assert phone_ticket(app, "vm-1").status == "new"  # nobody talked to the customer
    assert phone_ticket(app, "vm-1").first_responded_at is None
    with app.app_context():
        ticket = db.session.get(Ticket, call_row(app, "vm-1").ticket_id)
        service.change_status(ticket, "open", None)
        service.change_status(ticket, "pending", None)
        db.session.commit()
    cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="vm-2")
    assert call_row(app, "vm-2").ticket_id == call_row(app, "vm-1").ticket_id
    cti(event="answer", callId="vm-2", user="senior")
    reopened = phone_ticket(app, "vm-2")
    assert reopened.status == "open" and reopened.sla_paused_at is None and reopened.first_responded_at


def test_a_repeated_newcall_is_answered_from_one_read_without_a_lock(app, cti, senior, make_user, run_jobs):
    """A PBX asks again about a call: the answer comes from one read of the call, its item
    and the item's holder (the same read every newCall starts with, which also asks the
    blocklist); no customer read, no lock (on SQLite the call's
    lock is the database's write lock) and no write while the answer stays the same.  When
    it changed (a queued call was offered to an operator), the new answer is recorded."""
    from sqlalchemy import event

    from accounts.models import User
    from extensions import db
    from routing.presence import set_presence

    platinum_customer(app)
    with app.app_context():
        for user in db.session.scalars(select(User)):
            set_presence(user, "busy")
        db.session.commit()
    first = cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="rep-1").get_json()
    assert first == {"action": "queue"}
    statements: list[str] = []
    with app.app_context():
        engine = db.engine

    def seen(conn, cursor, statement, *args):
        statements.append(" ".join(statement.split()).lower())

    def ask_again() -> dict:
        statements.clear()
        event.listen(engine, "before_cursor_execute", seen)
        try:
            return cti(event="newCall", **{"from": "0312345678"}, to="100", direction="in", callId="rep-1").get_json()
        finally:
            event.remove(engine, "before_cursor_execute", seen)

    assert ask_again() == first
    besides_the_token = [s for s in statements if "api_tokens" not in s]
    assert len(besides_the_token) == 1 and besides_the_token[0].startswith("select"), statements
    assert "join calls" in besides_the_token[0] and "for update" not in besides_the_token[0]
    assert not any(s.startswith(("insert", "update", "delete")) for s in statements), statements
    assert not any("customer_identities" in s for s in statements)

    with app.app_context():
        set_presence(db.session.get(User, senior), "available")
        db.session.commit()
    run_jobs()  # the freed operator gets the waiting call
    assert ask_again() == {"action": "dial", "user": "senior", "extension": "201"}
    assert call_row(app, "rep-1").decision == "dial"  # recorded once, under the call's lock
    assert any(s.startswith("update calls") for s in statements)
    assert ask_again()["action"] == "dial"
    assert not any(s.startswith(("insert", "update", "delete")) for s in statements)


def test_a_new_call_asks_the_blocklist_in_its_first_read(app, cti, senior):
    """The blocklist and the "was this call seen?" question share one statement: a new
    call's hot path has no read of its own for either."""
    from sqlalchemy import event

    from extensions import db

    platinum_customer(app)
    statements: list[str] = []
    with app.app_context():
        engine = db.engine
    listener = lambda conn, cursor, statement, *args: statements.append(" ".join(statement.split()).lower())  # noqa: E731
    event.listen(engine, "before_cursor_execute", listener)
    try:
        assert new_call(cti, "0312345678", "first-read-1")["action"] == "dial"
    finally:
        event.remove(engine, "before_cursor_execute", listener)
    reads = [s for s in statements if "blocked_numbers" in s]
    assert len(reads) == 1 and "join calls" in reads[0], statements
    assert statements.index(reads[0]) == min(i for i, s in enumerate(statements) if "api_tokens" not in s)


def set_presences(app, presences: dict) -> None:
    """``{username: presence}``, committed (the freed-operator job is queued, not run)."""
    from accounts.models import User
    from extensions import db
    from routing.presence import set_presence

    with app.app_context():
        for username, presence in presences.items():
            set_presence(db.session.scalar(select(User).where(User.username == username)), presence)
        db.session.commit()


def new_call(cti, number: str, call_id: str) -> dict:
    return cti(event="newCall", **{"from": number}, to="100", direction="in", callId=call_id).get_json()


def test_a_new_call_does_not_overtake_a_caller_already_waiting(app, cti, senior):
    """The senior frees up; before the job that offers freed operators work has run, a new
    call arrives: the caller who has been waiting gets the senior, the new one waits."""
    platinum_customer(app)
    platinum_customer(app, phone="03-2222-3333", name="川口 次郎")
    set_presences(app, {"senior": "busy", "junior": "busy"})
    assert new_call(cti, "0312345678", "waited") == {"action": "queue"}
    set_presences(app, {"senior": "available"})
    assert new_call(cti, "0322223333", "newer") == {"action": "queue"}
    assert new_call(cti, "0312345678", "waited") == {"action": "dial", "user": "senior", "extension": "201"}


def test_a_new_call_still_takes_an_operator_the_waiting_caller_may_not_have(app, cti, senior):
    """The waiting platinum caller is for tier 3 at first; a free tier-1 operator takes
    the new caller at once instead of keeping them waiting behind that call."""
    platinum_customer(app)
    set_presences(app, {"senior": "busy", "junior": "busy"})
    assert new_call(cti, "0312345678", "platinum-waits") == {"action": "queue"}
    set_presences(app, {"junior": "available"})
    assert new_call(cti, "0398765432", "unknown-caller") == {"action": "dial", "user": "junior", "extension": "203"}
    assert new_call(cti, "0312345678", "platinum-waits") == {"action": "queue"}


def test_wrap_up_ends_on_time_in_one_sweep_and_the_operator_gets_the_waiting_call(app, cti, senior, published,
                                                                                  run_jobs):
    from sqlalchemy import update

    from accounts.models import User
    from core.db import utcnow
    from extensions import db
    from routing import jobs
    from routing.models import OperatorState

    platinum_customer(app)
    platinum_customer(app, phone="03-2222-3333", name="川口 次郎")
    set_presences(app, {"junior": "busy"})
    assert new_call(cti, "0312345678", "talked")["action"] == "dial"
    cti(event="answer", callId="talked", user="senior")
    cti(event="hangup", callId="talked", cause="normalClearing")
    assert new_call(cti, "0322223333", "waits") == {"action": "queue"}  # the senior is in wrap-up

    def presence_of(username):
        with app.app_context():
            user = db.session.scalar(select(User).where(User.username == username))
            return db.session.get(OperatorState, user.id).presence

    assert jobs.end_wrap_ups() == [] and presence_of("senior") == "wrap_up"  # 30 s by default
    with app.app_context():  # the wrap-up time has passed
        db.session.execute(update(OperatorState).where(OperatorState.user_id == senior)
                           .values(wrap_up_until=utcnow() - timedelta(seconds=1)))
        db.session.commit()
    before = len(published())
    assert jobs.end_wrap_ups() == [senior] and presence_of("senior") == "available"
    assert presence_of("junior") == "busy"
    announced = [data for event, data in published()[before:] if event == "operator_presence"]
    assert announced and all(data["username"] == "senior" and data["presence"] == "available" for data in announced)
    assert jobs.end_wrap_ups() == []  # once
    run_jobs()  # the freed senior is offered the waiting call
    assert new_call(cti, "0322223333", "waits") == {"action": "dial", "user": "senior", "extension": "201"}
