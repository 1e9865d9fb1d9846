"""Merging duplicates: everything moves, the duplicate answers 404, signal, timeline, audit;
and the duplicate suggestions."""
import pytest


def _make(client, **body):
    response = client.post("/api/v1/customers", json=body)
    assert response.status_code == 201, response.get_json()
    return response.get_json()


def test_merge_moves_identities_purchases_timeline_and_signals(app, client, login):
    from customers.events import customers_merged

    login(client)
    survivor = _make(client, name="山田 太郎", phones=["03-1234-5678"], emails=["taro@example.jp"])
    duplicate = _make(client, name="山田太郎", name_kana="ヤマダ タロウ", phones=["090-1111-2222"],
                      emails=["yamada@example.com"], address="東京都港区", tags=["VIP"])
    base = f"/api/v1/customers/{duplicate['id']}"
    client.post(f"{base}/purchases", json={"product": "急須", "amount": 12800, "purchased_at": "2026-03-01T10:00:00+09:00"})
    client.post(f"{base}/notes", json={"body": "重複側のメモ"})
    client.post(f"/api/v1/customers/{survivor['id']}/notes", json={"body": "本人のメモ"})
    received = []

    def _receiver(sender, **kwargs):
        received.append(kwargs)

    customers_merged.connect(_receiver)
    try:
        response = client.post(f"/api/v1/customers/{survivor['id']}/merge", json={"duplicate_id": duplicate["id"]})
    finally:
        customers_merged.disconnect(_receiver)
    assert response.status_code == 200, response.get_json()
    merged = response.get_json()
    assert received == [{"survivor_id": survivor["id"], "duplicate_id": duplicate["id"]}]
    assert sorted(merged["phones"]) == ["+81312345678", "+819011112222"]
    assert sorted(merged["emails"]) == ["taro@example.jp", "yamada@example.com"]
    assert merged["name_kana"] == "ヤマダ タロウ" and merged["address"] == "東京都港区" and merged["tags"] == ["VIP"]
    assert merged["ltv"] == 12800 and merged["version"] == 2
    assert client.get(base).status_code == 404
    assert client.get(f"{base}/timeline").status_code == 404
    assert client.get("/api/v1/customers/lookup?phone=09011112222").get_json()["id"] == survivor["id"]
    items = client.get(f"/api/v1/customers/{survivor['id']}/timeline").get_json()["items"]
    kinds = [i["kind"] for i in items]
    assert kinds[0] == "merge" and sorted(kinds) == ["merge", "note", "note", "purchase"]
    assert items[0]["detail"]["duplicate_id"] == duplicate["id"]
    assert client.get(f"/api/v1/customers/{survivor['id']}/purchases").get_json()["items"][0]["product"] == "急須"
    assert [c["id"] for c in client.get("/api/v1/customers").get_json()["items"]] == [survivor["id"]]
    admin = app.test_client()
    login(admin, roles="admin")
    audit = admin.get(f"/api/v1/audit?customer_id={survivor['id']}&action=customer.merge").get_json()["items"]
    assert len(audit) == 1 and audit[0]["detail"]["duplicate_id"] == duplicate["id"]
    # Contacts reaching the old identities resolve to the survivor.
    with app.app_context():
        from customers import service

        assert service.resolve_contact(email="YAMADA@example.com").id == survivor["id"]


def test_merge_refusals(client, login):
    login(client)
    a = _make(client, name="A", phones=["03-1111-1111"])
    b = _make(client, name="B", phones=["03-2222-2222"])
    url = f"/api/v1/customers/{a['id']}/merge"
    assert client.post(url, json={"duplicate_id": a["id"]}).status_code == 422
    assert client.post(url, json={"duplicate_id": 99999}).status_code == 404
    assert client.post(url, json={}).status_code == 422
    assert client.post(url, json={"duplicate_id": "x"}).status_code == 422
    assert client.post(url, json={"duplicate_id": b["id"]}).status_code == 200
    # The duplicate is gone: merging it again, or into it, is a 404.
    assert client.post(url, json={"duplicate_id": b["id"]}).status_code == 404
    assert client.post(f"/api/v1/customers/{b['id']}/merge", json={"duplicate_id": a["id"]}).status_code == 404


def test_chained_merges_point_at_the_last_survivor(app, client, login):
    login(client)
    a, b, c = (_make(client, name=n, phones=[p]) for n, p in (("A", "03-1111-1111"), ("B", "03-2222-2222"),
                                                              ("C", "03-3333-3333")))
    client.post(f"/api/v1/customers/{b['id']}/merge", json={"duplicate_id": c["id"]})
    client.post(f"/api/v1/customers/{a['id']}/merge", json={"duplicate_id": b["id"]})
    with app.app_context():
        from customers.models import Customer
        from extensions import db

        assert db.session.get(Customer, c["id"]).merged_into_id == a["id"]
    assert len(client.get(f"/api/v1/customers/{a['id']}").get_json()["phones"]) == 3
    assert client.get(f"/customers/{c['id']}").headers["Location"].endswith(f"/customers/{a['id']}")


@pytest.mark.parametrize("other,reason", [
    ({"name": "鈴木 一郎", "name_kana": "すずき いちろう"}, "same_name_kana"),
    ({"name": "鈴木一郎", "birthday": "1975-05-05"}, "same_name_birthday"),
    ({"name": "鈴木 一郎", "company": "株式会社テスト"}, "same_name_company"),
    ({"name": "別名", "name_kana": "スズキ イチロウ", "birthday": "1975-05-05"}, "same_kana_birthday"),
])
def test_duplicate_suggestions(client, login, other, reason):
    login(client)
    me = _make(client, name="鈴木 一郎", name_kana="スズキ イチロウ", birthday="1975-05-05", company="株式会社テスト",
               phones=["03-5555-1111"])
    them = _make(client, phones=["090-5555-2222"], **other)
    _make(client, name="無関係 花子", phones=["090-5555-3333"])
    found = client.get(f"/api/v1/customers/{me['id']}/duplicates").get_json()["items"]
    assert [d["id"] for d in found] == [them["id"]]
    assert reason in found[0]["reasons"]


def test_gmail_dot_variants_are_suggested(client, login):
    login(client)
    me = _make(client, name="A", emails=["taro.yamada@gmail.com"])
    them = _make(client, name="B", emails=["taroyamada+shop@gmail.com"])
    found = client.get(f"/api/v1/customers/{me['id']}/duplicates").get_json()["items"]
    assert [d["id"] for d in found] == [them["id"]] and found[0]["reasons"] == ["same_email"]
