"""Collision detection (viewers and typing, in Redis and over Socket.IO) and macros."""
from __future__ import annotations

import time

import pytest


class _Person:
    def __init__(self, user_id, name):
        self.id = self.user_id = user_id
        self.display_name = name


def test_viewers_per_connection_with_typing(app):
    from tickets import viewers

    alice, bob = _Person(1, "Alice"), _Person(2, "Bob")
    with app.app_context():
        assert viewers.view(alice, 5, "a1") == [{"id": 1, "name": "Alice", "typing": False}]
        viewers.view(alice, 5, "a2")  # a second tab
        assert [p["id"] for p in viewers.view(bob, 5, "b1")] == [1, 2]
        assert viewers.typing(bob, 5, True, "b1")[1] == {"id": 2, "name": "Bob", "typing": True}
        # One of Alice's tabs leaves: she is still viewing.
        assert [p["id"] for p in viewers.leave(alice, 5, "a1")] == [1, 2]
        left = viewers.leave_all(alice, "a2")
        assert left == {5: [{"id": 2, "name": "Bob", "typing": True}]}
        assert viewers.typing(bob, 5, False, "b1") == [{"id": 2, "name": "Bob", "typing": False}]
        viewers.view(bob, 6, "b1")
        assert set(viewers.leave_all(bob)) == {5, 6}
        assert viewers.viewers(5) == [] and viewers.viewers(6) == []


def test_stale_viewers_drop_out(app, monkeypatch):
    from tickets import viewers

    with app.app_context():
        viewers.view(_Person(3, "Gone"), 7, "x")
        real = time.time
        monkeypatch.setattr(viewers.time, "time", lambda: real() + viewers.STALE_S + 1)
        assert viewers.viewers(7) == []


@pytest.mark.processes
def test_two_operators_see_each_other_and_typing_over_socketio(app, make_user, live_server):
    from customers import service as customers
    from extensions import db
    from tests.conftest import http_login
    from tests.test_realtime import connect, wait_for
    from tickets import service

    with app.app_context():
        ticket = service.open_ticket(customers.create({"name": "衝突 太郎"}), subject="s", channel="web")
        db.session.commit()
        ticket_id = ticket.id
    first_id, _ = make_user("view-one", name="一号")
    second_id, _ = make_user("view-two", name="二号")
    first_http = http_login(live_server, "view-one")
    events = ("ticket_viewers", "ticket_updated")
    sock1, inbox1 = connect(live_server, first_http, events=events)
    sock2, inbox2 = connect(live_server, http_login(live_server, "view-two"), events=events)
    try:
        ack = sock1.call("view_ticket", {"ticket_id": ticket_id}, namespace="/console", timeout=5)
        assert ack["viewers"] == [{"id": first_id, "name": "一号", "typing": False}]
        sock2.call("view_ticket", {"ticket_id": ticket_id}, namespace="/console", timeout=5)
        wait_for(inbox1, lambda n, d: n == "ticket_viewers" and [p["id"] for p in d["viewers"]] == [first_id, second_id])
        sock2.call("typing", {"ticket_id": ticket_id, "typing": True}, namespace="/console", timeout=5)
        wait_for(inbox1, lambda n, d: n == "ticket_viewers"
                 and any(p["id"] == second_id and p["typing"] for p in d["viewers"]))
        # A change by one is pushed to the other viewer as ticket_updated.
        first_http.post(f"{live_server}/api/v1/tickets/{ticket_id}/messages", json={"body": "n", "kind": "note"})
        wait_for(inbox2, lambda n, d: n == "ticket_updated" and d == {"ticket_id": ticket_id, "version": 2})
        sock2.disconnect()
        wait_for(inbox1, lambda n, d: n == "ticket_viewers" and [p["id"] for p in d["viewers"]] == [first_id])
        bad = sock1.call("view_ticket", {"ticket_id": "x"}, namespace="/console", timeout=5)
        assert bad["error"]["code"] == "validation_error"
        missing = sock1.call("view_ticket", {"ticket_id": 999999}, namespace="/console", timeout=5)
        assert missing["error"]["code"] == "not_found"
    finally:
        sock1.disconnect()
        sock2.disconnect()


@pytest.fixture
def ticket_id(app):
    from customers import service as customers
    from extensions import db
    from tickets import service

    with app.app_context():
        ticket = service.open_ticket(customers.create({"name": "佐藤 花子"}), subject="返品", channel="web")
        db.session.commit()
        return ticket.id


def test_macros_shared_and_personal_with_placeholders(app, client, login, ticket_id):
    user_id, _ = login(client, name="担当 一郎")
    assert client.post("/api/v1/macros", json={"name": "共有", "shared": True}).status_code == 403
    personal = client.post("/api/v1/macros", json={
        "name": "お礼", "body": "{{customer.name}} 様\nチケット #{{ticket.id}} を担当の{{operator.name}}です。{{unknown.x}}",
        "set_status": "pending", "add_tags": ["返品", "Thanks"]})
    assert personal.status_code == 201
    macro = personal.get_json()
    assert macro["shared"] is False and macro["owner_id"] == user_id and macro["add_tags"] == ["返品", "thanks"]
    supervisor = app.test_client()
    login(supervisor, roles="supervisor")
    shared = supervisor.post("/api/v1/macros", json={"name": "共有の挨拶", "body": "こんにちは", "shared": True})
    assert shared.status_code == 201
    names = [m["name"] for m in client.get("/api/v1/macros").get_json()["items"]]
    assert names == ["お礼", "共有の挨拶"]
    assert [m["name"] for m in supervisor.get("/api/v1/macros").get_json()["items"]] == ["共有の挨拶"]
    assert supervisor.get(f"/api/v1/macros/{macro['id']}").status_code == 404  # personal stays personal
    assert client.delete(f"/api/v1/macros/{shared.get_json()['id']}").status_code == 403

    url = f"/api/v1/tickets/{ticket_id}/macros/{macro['id']}/apply"
    preview = client.post(url, json={})
    assert preview.status_code == 200
    assert preview.get_json()["body"] == f"佐藤 花子 様\nチケット #{ticket_id} を担当の担当 一郎です。{{{{unknown.x}}}}"
    client.patch(f"/api/v1/tickets/{ticket_id}", json={"assignee_id": user_id})
    assert client.post(url, json={"send": True, "version": 1}).status_code == 409
    sent = client.post(url, json={"send": True})
    assert sent.status_code == 200, sent.get_json()
    result = sent.get_json()
    assert result["message"]["kind"] == "reply" and "佐藤 花子 様" in result["message"]["body"]
    assert result["ticket"]["status"] == "pending" and result["ticket"]["tags"] == ["返品", "thanks"]

    patched = client.patch(f"/api/v1/macros/{macro['id']}", json={"name": "お礼2", "version": 1})
    assert patched.status_code == 200 and patched.get_json()["version"] == 2
    assert client.patch(f"/api/v1/macros/{macro['id']}", json={"name": "x", "version": 1}).status_code == 409
    assert client.delete(f"/api/v1/macros/{macro['id']}").status_code == 204
    assert client.get(f"/api/v1/macros/{macro['id']}").status_code == 404
