"""Tickets API: create, list, get, PATCH with transitions, optimistic locking, messages,
permissions, the customer timeline, merge (CONTRACT §3 "Tickets", §8)."""
from __future__ import annotations

import pytest


@pytest.fixture
def make_customer(app):
    """``make_customer(name, email=, phone=, rank=)`` commits a customer and returns its id."""
    from customers import service
    from extensions import db

    def _make(name="山田 太郎", email=None, phone=None, rank=None):
        with app.app_context():
            customer = service.create({"name": name, "emails": [email] if email else [],
                                       "phones": [phone] if phone else []})
            if rank:
                customer.rank_override = rank
            db.session.commit()
            return customer.id

    return _make


def _timeline(app, customer_id):
    from customers import timeline

    with app.app_context():
        return [(i.kind, i.summary, i.ticket_id) for i in timeline.page(customer_id, limit=200)[0]]


def _create(client, **over):
    body = {"subject": "配送が遅れています", "body": "注文した商品がまだ届きません。", "channel": "web"}
    body.update(over)
    return client.post("/api/v1/tickets", json=body)


def test_create_for_known_customer_returns_201_with_contract_fields(client, login, make_customer, app):
    login(client)
    customer_id = make_customer(rank="gold")
    response = _create(client, customer_id=customer_id, priority="high")
    assert response.status_code == 201, response.get_json()
    ticket = response.get_json()
    for key in ("id", "subject", "status", "priority", "channel", "customer_id", "assignee_id", "rank", "sla",
                "tags", "version", "created_at", "updated_at", "messages"):
        assert key in ticket
    assert ticket["status"] == "new" and ticket["priority"] == "high" and ticket["rank"] == "gold"
    assert ticket["assignee_id"] is None and ticket["version"] == 1
    assert set(ticket["sla"]) >= {"first_response_due_at", "resolution_due_at", "breached"}
    assert ticket["sla"]["breached"] is False
    assert response.headers["ETag"] == '"1"'
    assert [m["kind"] for m in ticket["messages"]] == ["inbound"]
    assert ticket["messages"][0]["body"] == "注文した商品がまだ届きません。"
    kinds = [k for k, _, tid in _timeline(app, customer_id) if tid == ticket["id"]]
    assert "ticket" in kinds


def test_create_for_unknown_contact_creates_the_customer_once(client, login, app):
    login(client)
    first = _create(client, customer={"name": "佐藤 花子", "email": "Hanako@Example.jp"}, channel="email")
    assert first.status_code == 201
    second = _create(client, customer={"email": "hanako@example.JP"}, channel="email")
    assert second.get_json()["customer_id"] == first.get_json()["customer_id"]
    by_phone = _create(client, customer={"phone": "03-1234-5678", "name": "電話 太郎"}, channel="phone")
    again = _create(client, customer={"phone": "+81 3 1234 5678"}, channel="phone")
    assert by_phone.get_json()["customer_id"] == again.get_json()["customer_id"]
    assert by_phone.get_json()["customer_id"] != first.get_json()["customer_id"]


@pytest.mark.parametrize("body, field", [
    ({"subject": "x", "channel": "fax", "customer": {"name": "A"}}, "channel"),
    ({"subject": "", "channel": "web", "customer": {"name": "A"}}, "subject"),
    ({"subject": "x", "channel": "web"}, "customer_id"),
    ({"subject": "x", "channel": "web", "customer": {}}, "customer"),
    ({"subject": "x", "channel": "web", "customer": {"email": "not-an-email"}}, "customer"),
    ({"subject": "x", "channel": "web", "priority": "asap", "customer": {"name": "A"}}, "priority"),
])
def test_bad_input_is_422_with_fields(client, login, body, field):
    login(client)
    response = client.post("/api/v1/tickets", json=body)
    assert response.status_code == 422, response.get_json()
    assert field in response.get_json()["error"]["fields"]


def test_unknown_customer_is_404_and_malformed_json_is_4xx(client, login):
    login(client)
    assert _create(client, customer_id=999999).status_code == 404
    response = client.post("/api/v1/tickets", data="{oops", content_type="application/json")
    assert response.status_code in (400, 422) and "error" in response.get_json()


def test_transitions_by_assignee_and_closed_is_final(client, login, make_customer, app):
    user_id, _ = login(client)
    ticket = _create(client, customer_id=make_customer()).get_json()
    url = f"/api/v1/tickets/{ticket['id']}"
    # Not the assignee: status changes are refused; taking it is allowed.
    assert client.patch(url, json={"status": "open"}).status_code == 403
    taken = client.patch(url, json={"assignee_id": user_id})
    assert taken.status_code == 200 and taken.get_json()["assignee_id"] == user_id
    for status in ("open", "pending", "open", "on_hold", "solved", "open", "solved", "closed"):
        response = client.patch(url, json={"status": status})
        assert response.status_code == 200, (status, response.get_json())
        assert response.get_json()["status"] == status
    final = client.patch(url, json={"status": "open"})
    assert final.status_code == 422 and "closed" in final.get_json()["error"]["message"]
    assert client.patch(url, json={"tags": ["x"]}).status_code == 422
    back_to_new = _create(client, customer_id=make_customer(name="B"))
    new_url = f"/api/v1/tickets/{back_to_new.get_json()['id']}"
    client.patch(new_url, json={"assignee_id": user_id, "status": "open"})
    assert client.patch(new_url, json={"status": "new"}).status_code == 422
    statuses = [s for k, s, tid in _timeline(app, ticket["customer_id"]) if k == "status" and tid == ticket["id"]]
    assert len(statuses) == 8


def test_stale_version_is_409_via_body_or_if_match(client, login, make_customer):
    user_id, _ = login(client)
    ticket = _create(client, customer_id=make_customer()).get_json()
    url = f"/api/v1/tickets/{ticket['id']}"
    first = client.patch(url, json={"assignee_id": user_id, "version": 1})
    assert first.status_code == 200 and first.headers["ETag"] == '"2"'
    stale = client.patch(url, json={"priority": "urgent", "version": 1})
    assert stale.status_code == 409
    assert stale.get_json()["error"]["version"] == 2
    assert client.patch(url, json={"priority": "urgent"}, headers={"If-Match": '"1"'}).status_code == 409
    assert client.patch(url, json={"priority": "urgent"}, headers={"If-Match": "2"}).status_code == 200
    assert client.patch(url, json={"priority": "low"}, headers={"If-Match": "abc"}).status_code == 422
    assert client.get(url).headers["ETag"] == '"3"'


def test_operator_cannot_reassign_someone_elses_ticket_but_supervisor_can(client, login, make_user, make_customer,
                                                                          app):
    other_id, _ = make_user("other-op")
    third_id, _ = make_user("third-op")
    login(client)
    ticket = _create(client, customer_id=make_customer()).get_json()
    url = f"/api/v1/tickets/{ticket['id']}"
    # An unassigned ticket may be dispatched by any operator.
    assert client.patch(url, json={"assignee_id": other_id}).status_code == 200
    assert client.patch(url, json={"assignee_id": third_id}).status_code == 403
    assert client.patch(url, json={"priority": "high"}).status_code == 403
    sup = app.test_client()
    login(sup, roles="supervisor")
    assert sup.patch(url, json={"assignee_id": third_id}).status_code == 200
    assert sup.patch(url, json={"status": "solved"}).status_code == 200
    assert sup.patch(url, json={"assignee_id": 999999}).status_code == 422


@pytest.mark.parametrize("method, path", [
    ("get", "/api/v1/tickets"), ("post", "/api/v1/tickets"), ("get", "/api/v1/tickets/1"),
    ("patch", "/api/v1/tickets/1"), ("post", "/api/v1/tickets/1/messages"), ("get", "/api/v1/macros"),
    ("post", "/api/v1/macros"), ("post", "/api/v1/tickets/preview"), ("get", "/api/v1/sla/policies"),
])
def test_editors_get_403_and_logged_out_401(client, app, login, method, path):
    assert getattr(app.test_client(), method)(path, json={}).status_code == 401
    login(client, roles="editor")
    response = getattr(client, method)(path, json={})
    assert response.status_code == 403
    assert response.get_json()["error"]["code"] == "forbidden"


def test_list_filters_and_keyset_pages(client, login, make_user, make_customer):
    user_id, _ = login(client)
    gold = make_customer(name="金 太郎", rank="gold")
    plain = make_customer(name="普通 次郎")
    ids = [_create(client, customer_id=gold if i % 2 else plain, subject=f"件名 {i}").get_json()["id"]
           for i in range(7)]
    for ticket_id in ids[:3]:
        client.patch(f"/api/v1/tickets/{ticket_id}", json={"assignee_id": user_id})
    client.patch(f"/api/v1/tickets/{ids[0]}", json={"status": "open"})
    page = client.get("/api/v1/tickets?limit=3").get_json()
    assert [t["id"] for t in page["items"]] == ids[::-1][:3] and page["next_cursor"]
    rest = client.get(f"/api/v1/tickets?limit=50&cursor={page['next_cursor']}").get_json()
    assert [t["id"] for t in rest["items"]] == ids[::-1][3:] and rest["next_cursor"] is None
    mine = client.get("/api/v1/tickets?assignee=me").get_json()["items"]
    assert sorted(t["id"] for t in mine) == sorted(ids[:3])
    assert [t["id"] for t in client.get("/api/v1/tickets?assignee=me&status=open").get_json()["items"]] == [ids[0]]
    assert len(client.get(f"/api/v1/tickets?assignee={user_id}&status=new,open").get_json()["items"]) == 3
    assert len(client.get("/api/v1/tickets?assignee=none").get_json()["items"]) == 4
    golds = client.get("/api/v1/tickets?rank=gold").get_json()["items"]
    assert {t["customer_id"] for t in golds} == {gold} and len(golds) == 3
    assert [t["id"] for t in client.get("/api/v1/tickets?q=件名 4").get_json()["items"]] == [ids[4]]
    assert len(client.get("/api/v1/tickets?q=金 太郎").get_json()["items"]) == 3
    assert [t["id"] for t in client.get(f"/api/v1/tickets?q=%23{ids[5]}").get_json()["items"]][-1] == ids[5]
    assert client.get("/api/v1/tickets?status=bogus").status_code == 422
    assert client.get("/api/v1/tickets?limit=500").status_code == 422
    assert client.get("/api/v1/tickets?cursor=!!!").status_code == 422
    assert client.get("/api/v1/tickets?assignee=someone").status_code == 422
    assert mine[0]["customer"]["name"] and mine[0]["assignee_name"]


def test_note_and_reply_on_a_web_ticket_land_on_timeline(client, login, make_customer, app):
    user_id, _ = login(client)
    customer_id = make_customer()
    ticket = _create(client, customer_id=customer_id).get_json()
    url = f"/api/v1/tickets/{ticket['id']}/messages"
    note = client.post(url, json={"body": "**社内メモ** <script>alert(1)</script>", "kind": "note"})
    assert note.status_code == 201
    body = note.get_json()
    assert body["kind"] == "note" and "<strong>社内メモ</strong>" in body["html"]
    assert "<script>" not in body["html"] and body["delivery"] is None
    reply = client.post(url, json={"body": "ご連絡ありがとうございます。", "kind": "reply", "version": body["ticket_version"]})
    assert reply.status_code == 201
    after = client.get(f"/api/v1/tickets/{ticket['id']}").get_json()
    assert after["status"] == "open"  # a first reply opens a new ticket
    assert after["sla"]["first_responded_at"] is not None
    assert [m["kind"] for m in after["messages"]] == ["inbound", "note", "reply"]
    kinds = [k for k, _, tid in _timeline(app, customer_id) if tid == ticket["id"]]
    assert {"note", "reply", "ticket", "status"} <= set(kinds)


def test_reply_on_a_stale_version_is_refused_with_a_clear_message(client, login, make_customer):
    login(client)
    ticket = _create(client, customer_id=make_customer()).get_json()
    url = f"/api/v1/tickets/{ticket['id']}/messages"
    assert client.post(url, json={"body": "first", "kind": "note", "version": 1}).status_code == 201
    stale = client.post(url, json={"body": "second", "kind": "reply", "version": 1})
    assert stale.status_code == 409
    assert "Reload" in stale.get_json()["error"]["message"]
    assert client.post(url, json={"body": "x", "kind": "reply"}, headers={"If-Match": '"1"'}).status_code == 409
    assert client.post(url, json={"body": "", "kind": "reply"}).status_code == 422
    assert client.post(url, json={"body": "x", "kind": "inbound"}).status_code == 422


def test_pending_pauses_the_sla_clock(app, ctx, make_customer):
    from datetime import UTC, datetime, timedelta

    from tickets import sla
    from tickets.models import Ticket

    cal = sla.Calendar()
    created = datetime(2026, 6, 1, 1, 0, tzinfo=UTC)  # Monday 10:00 JST
    ticket = Ticket(subject="s", channel="web", customer_id=make_customer(), rank="gold", priority="normal",
                    created_at=created, status="open", sla_paused_business_s=0)
    sla.recompute(ticket)
    assert ticket.first_response_due_at == cal.add(created, 240 * 60)  # 14:00 JST
    due = ticket.resolution_due_at
    sla.pause(ticket, created + timedelta(hours=1))
    # Pending until the next morning 10:00 JST: 8 business hours pass (11:00–18:00, 9:00–10:00).
    sla.resume(ticket, datetime(2026, 6, 2, 1, 0, tzinfo=UTC))
    assert ticket.sla_paused_business_s == 8 * 3600
    assert ticket.resolution_due_at == cal.add(due, 8 * 3600)


def test_merge_moves_tickets_to_the_survivor(client, login, make_customer, app):
    from customers.events import customers_merged
    from extensions import db

    login(client)
    survivor, duplicate = make_customer(name="A"), make_customer(name="A'")
    ticket = _create(client, customer_id=duplicate).get_json()
    with app.app_context():
        customers_merged.send(app, survivor_id=survivor, duplicate_id=duplicate)
        db.session.commit()
    assert client.get(f"/api/v1/tickets/{ticket['id']}").get_json()["customer_id"] == survivor


def test_preview_renders_sanitised_markdown(client, login):
    login(client)
    html = client.post("/api/v1/tickets/preview", json={"body": "# 見出し\n[x](javascript:alert(1))"}).get_json()["html"]
    assert "<h1>見出し</h1>" in html and 'href="javascript' not in html


def test_routing_signal_is_sent_on_create_and_return_to_queue(client, login, make_customer, app):
    from tickets.events import ticket_needs_routing

    received = []

    def _listen(sender, **kwargs):
        received.append((kwargs["ticket_id"], kwargs["reason"]))

    ticket_needs_routing.connect(_listen)
    try:
        user_id, _ = login(client)
        ticket = _create(client, customer_id=make_customer()).get_json()
        url = f"/api/v1/tickets/{ticket['id']}"
        client.patch(url, json={"assignee_id": user_id})
        back = client.patch(url, json={"assignee_id": None})
        assert back.status_code == 200 and back.get_json()["waiting_since"] >= ticket["waiting_since"]
    finally:
        ticket_needs_routing.disconnect(_listen)
    assert received == [(ticket["id"], "created"), (ticket["id"], "returned")]


def test_hand_written_ticket_json_matches_the_schema(client, login, make_customer, app):
    from extensions import db
    from tickets.models import Ticket
    from tickets.schemas import TicketOut, ticket_fields

    user_id, _ = login(client)
    ticket_id = _create(client, customer_id=make_customer(), tags=["a"]).get_json()["id"]
    client.patch(f"/api/v1/tickets/{ticket_id}", json={"assignee_id": user_id, "status": "solved"})
    with app.app_context():
        ticket = db.session.get(Ticket, ticket_id)
        assert ticket_fields(ticket) == TicketOut().dump(ticket)
