"""Identity normalisation, contact resolution and the timeline (the customers core)."""
from datetime import timedelta

import pytest

from core.db import utcnow
from core.errors import Conflict, Invalid
from customers.identity import email_or_none, normalize_phone, phone_or_none

SAME_NUMBER = ["03-1234-5678", "０３−１２３４−５６７８", "+81 3 1234 5678", "0312345678", "81312345678",
               "+81312345678", "010 81 3 1234 5678", "0081312345678", "03ー1234ー5678", "(03) 1234-5678"]


@pytest.mark.parametrize("raw", SAME_NUMBER)
def test_every_form_of_one_number_is_one_e164(raw):
    assert phone_or_none(raw) == "+81312345678"


@pytest.mark.parametrize("raw", ["anonymous", "", "12345", "03-0000", "abc", "+999 1", None])
def test_non_numbers_are_none(raw):
    assert phone_or_none(raw) is None


def test_invalid_phone_is_422_with_field():
    with pytest.raises(Invalid) as raised:
        normalize_phone("03-12")
    assert "phones" in raised.value.fields


def test_mobile_and_foreign_numbers():
    assert phone_or_none("090-1234-5678") == "+819012345678"
    assert phone_or_none("+1 212 555 0100") == "+12125550100"


def test_emails_are_case_folded_and_validated():
    assert email_or_none("  Taro.Yamada@Example.COM ") == "taro.yamada@example.com"
    assert email_or_none("<hanako@example.jp>") == "hanako@example.jp"
    assert email_or_none("not-an-email") is None


def test_resolve_contact_creates_once_and_finds_by_any_form(ctx):
    from customers import service
    from extensions import db

    created = service.resolve_contact(email="Yamada@Example.com", phone="03-1234-5678", name="山田 太郎")
    db.session.commit()
    assert created.name == "山田 太郎"
    assert service.resolve_contact(phone="+81 3 1234 5678").id == created.id
    assert service.resolve_contact(email="yamada@example.COM").id == created.id
    assert service.lookup(phone="０３１２３４５６７８").id == created.id
    assert service.lookup(phone="anonymous") is None
    assert service.resolve_contact(phone="anonymous", create_missing=False) is None


def test_identity_belongs_to_one_customer(ctx):
    from customers import service
    from extensions import db

    first = service.create({"name": "A", "phones": ["03-1111-2222"]})
    db.session.commit()
    with pytest.raises(Conflict) as raised:
        service.create({"name": "B", "phones": ["+81311112222"]})
    assert raised.value.extra["customer_id"] == first.id
    db.session.rollback()


def test_timeline_pages_newest_first_with_stable_cursor(ctx):
    from customers import service, timeline
    from extensions import db

    customer = service.create({"name": "T"})
    base = utcnow()
    for index in range(7):
        timeline.record(customer.id, "note", summary=f"n{index}", occurred_at=base - timedelta(minutes=index // 2))
    db.session.commit()
    seen, cursor = [], None
    while True:
        rows, cursor = timeline.page(customer.id, limit=3, before=cursor)
        seen += [r.summary for r in rows]
        if cursor is None:
            break
    assert len(seen) == 7 and len(set(seen)) == 7
    times = [r.occurred_at for r in timeline.page(customer.id, limit=10)[0]]
    assert times == sorted(times, reverse=True)


def test_timeline_ref_is_idempotent(ctx):
    from customers import service, timeline
    from extensions import db

    customer = service.create({"name": "R"})
    first = timeline.record(customer.id, "call", ref="call:abc:hangup")
    second = timeline.record(customer.id, "call", ref="call:abc:hangup")
    db.session.commit()
    assert first.id == second.id
    assert len(timeline.page(customer.id)[0]) == 1


def test_a_contact_moves_the_last_contact_forward_only_and_leaves_the_version(ctx):
    """timeline.record of a conversation (call, mail, chat …) moves last_contact_at with one
    conditional UPDATE: never back, not for bookkeeping items, the loaded copy follows,
    and the customer's version (an operator may be editing them) stays."""
    from customers import service, timeline
    from customers.models import Customer
    from extensions import db

    customer = service.create({"name": "L"})
    db.session.commit()
    version, now = customer.version, utcnow()
    timeline.record(customer.id, "call", summary="in", occurred_at=now)
    assert customer.last_contact_at == now  # the session's copy, without a read
    timeline.record(customer.id, "email", summary="older", occurred_at=now - timedelta(hours=1))
    timeline.record(customer.id, "status", summary="bookkeeping", occurred_at=now + timedelta(hours=1))
    db.session.commit()
    db.session.expire_all()
    stored = db.session.get(Customer, customer.id)
    assert stored.last_contact_at == now and stored.version == version
    later = now + timedelta(minutes=5)
    db.session.expunge_all()  # nothing loaded: the UPDATE alone does it
    timeline.record(customer.id, "chat", summary="later", occurred_at=later)
    db.session.commit()
    assert db.session.get(Customer, customer.id).last_contact_at == later


def test_a_forged_timeline_cursor_is_422_not_500(client, login):
    from core.pagination import encode

    login(client, roles="operator")
    customer = client.post("/api/v1/customers", json={"name": "カーソル 太郎"}).get_json()["id"]
    for bad in (encode(["not a date", 1]), encode(["2026-01-01T00:00:00", "x"]), "%%%"):
        response = client.get(f"/api/v1/customers/{customer}/timeline", query_string={"before": bad})
        assert response.status_code == 422, bad
