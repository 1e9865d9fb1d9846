"""``GET /api/v1/operators/me/contacts``: an operator's own latest contacts across
customers (the console home's "my recent contacts"), newest first, paged, audited."""
from datetime import datetime, timedelta

from sqlalchemy import select

AGO = timedelta(minutes=1)


def seed(app, me: int, other: int) -> dict:
    """Two customers with contacts by me and by another operator, plus items that are not contacts."""
    from core.db import utcnow
    from customers import service, timeline
    from extensions import db

    now = utcnow()
    with app.app_context():
        aoki = service.create({"name": "青木 花子", "phones": ["03-5555-0201"]})
        aoki.rank_override = "platinum"
        baba = service.create({"name": "馬場 太郎", "emails": ["baba@example.test"]})
        db.session.flush()
        ids = {"aoki": aoki.id, "baba": baba.id}
        timeline.record(aoki.id, "call", channel="phone", direction="in", summary="着信 通話 120秒",
                        ticket_id=41, operator_id=me, occurred_at=now - 180 * AGO)
        timeline.record(baba.id, "reply", channel="email", direction="out", summary="ご返信します",
                        ticket_id=42, operator_id=me, occurred_at=now - 120 * AGO)
        timeline.record(aoki.id, "status", summary="#41 open → solved", ticket_id=41, operator_id=me,
                        occurred_at=now - 60 * AGO)  # bookkeeping, not a contact
        timeline.record(aoki.id, "note", summary="他の担当者のメモ", operator_id=other, occurred_at=now - 30 * AGO)
        timeline.record(baba.id, "email", channel="email", direction="in", summary="お客様からのメール",
                        ticket_id=42, occurred_at=now - 20 * AGO)  # nobody's
        timeline.record(baba.id, "note", summary="折り返し希望", operator_id=me, occurred_at=now - 10 * AGO)
        db.session.commit()
    return ids


def audit_rows(app, action="customer.recent_contacts") -> list:
    from core.audit import AuditEntry
    from extensions import db

    with app.app_context():
        return [row.to_dict() for row in db.session.scalars(select(AuditEntry).where(AuditEntry.action == action))]


def test_only_my_contacts_newest_first_with_customer_and_audited(app, client, login, make_user):
    me, username = login(client)
    other, _ = make_user()
    ids = seed(app, me, other)

    response = client.get("/api/v1/operators/me/contacts")
    assert response.status_code == 200
    data = response.get_json()
    assert data["next_cursor"] is None
    assert [(i["kind"], i["summary"]) for i in data["items"]] == [
        ("note", "折り返し希望"), ("reply", "ご返信します"), ("call", "着信 通話 120秒")]
    note, reply, call = data["items"]
    assert note["customer"] == {"id": ids["baba"], "name": "馬場 太郎", "rank": "new"}
    assert call["customer"] == {"id": ids["aoki"], "name": "青木 花子", "rank": "platinum"}
    assert call["customer_id"] == ids["aoki"] and call["ticket_id"] == 41
    assert (call["channel"], call["direction"]) == ("phone", "in")
    assert (reply["channel"], reply["direction"], reply["ticket_id"]) == ("email", "out", 42)
    assert note["ticket_id"] is None
    when = [datetime.fromisoformat(i["occurred_at"]) for i in (note, reply, call)]
    assert when == sorted(when, reverse=True) and when[0].utcoffset() == timedelta(0)

    [entry] = audit_rows(app)
    assert entry["actor_id"] == me and entry["actor_username"] == username
    assert entry["detail"] == {"customer_ids": sorted(ids.values())}


def test_another_operator_sees_only_theirs(app, client, login, make_user):
    me, _ = make_user()
    other, _ = login(client)
    ids = seed(app, me, other)
    items = client.get("/api/v1/operators/me/contacts").get_json()["items"]
    assert [(i["kind"], i["customer_id"]) for i in items] == [("note", ids["aoki"])]


def test_a_note_written_through_the_api_is_listed(app, client, login):
    login(client)
    created = client.post("/api/v1/customers", json={"name": "千葉 一郎"}).get_json()
    assert client.post(f"/api/v1/customers/{created['id']}/notes", json={"body": "住所変更の依頼\n詳細"}).status_code == 201
    [item] = client.get("/api/v1/operators/me/contacts").get_json()["items"]
    assert (item["kind"], item["summary"], item["customer"]["name"]) == ("note", "住所変更の依頼", "千葉 一郎")


def test_pages_with_the_cursor_without_gaps_or_repeats(app, client, login):
    from core.db import utcnow
    from customers import service, timeline
    from extensions import db

    me, _ = login(client)
    now = utcnow()
    with app.app_context():
        customer = service.create({"name": "土井 次郎"})
        db.session.flush()
        # Two items share a moment: the id breaks the tie, across a page boundary too.
        moments = [now - 5 * AGO, now - 4 * AGO, now - 4 * AGO, now - 2 * AGO, now - AGO]
        for number, moment in enumerate(moments):
            timeline.record(customer.id, "call", summary=f"call {number}", operator_id=me, occurred_at=moment)
        db.session.commit()

    seen, cursor, pages = [], None, 0
    while True:
        query = "?limit=2" + (f"&cursor={cursor}" if cursor else "")
        data = client.get("/api/v1/operators/me/contacts" + query).get_json()
        seen += [item["summary"] for item in data["items"]]
        pages += 1
        cursor = data["next_cursor"]
        if cursor is None:
            break
    assert pages == 3
    assert seen == ["call 4", "call 3", "call 2", "call 1", "call 0"]
    assert len(audit_rows(app)) == 3  # one entry per request

    bad = client.get("/api/v1/operators/me/contacts?cursor=not-a-cursor")
    assert bad.status_code == 422 and bad.get_json()["error"]["fields"]["cursor"]
    assert client.get("/api/v1/operators/me/contacts?limit=201").status_code == 422


def test_no_contacts_is_an_empty_list_and_reads_nothing(app, client, login):
    login(client, roles="supervisor")
    assert client.get("/api/v1/operators/me/contacts").get_json() == {"items": [], "next_cursor": None}
    assert audit_rows(app) == []


def test_editors_are_refused_and_logged_out_is_401(app, client, login):
    assert client.get("/api/v1/operators/me/contacts").status_code == 401
    login(client, roles="editor")
    response = client.get("/api/v1/operators/me/contacts")
    assert response.status_code == 403 and response.get_json()["error"]["code"] == "forbidden"


def test_an_api_token_has_no_contacts_of_its_own(app, client):
    from accounts.service import create_token
    from extensions import db

    with app.app_context():
        _, raw = create_token("crm", "api")
        db.session.commit()
    response = client.get("/api/v1/operators/me/contacts", headers={"Authorization": f"Bearer {raw}"})
    assert response.status_code == 409
